/* 新闻问答 — the document library: every document the service holds, searchable by title, sortable
 * by date, filterable by publisher and date range; a document opens to its articles.  The
 * publisher and date filters (or one document) also restrict the questions asked (POST /api/ask's
 * "filters"), shown above the question box until cleared.
 *
 * Loaded after app.js (window.QA); text from the API only ever goes in with textContent.
 */
(function () {
  "use strict";

  var QA = window.QA;
  var el = QA.el, $ = QA.$;
  var lib = {
    docs: [], // GET /api/documents
    only: null // {id, title}: questions asked about this document alone
  };

  function fetchJSON(url) {
    return fetch(url, { headers: { "Accept": "application/json" } }).then(function (resp) {
      return resp.json().catch(function () { return null; }).then(function (data) {
        if (!resp.ok) throw { shown: QA.errorMessage(resp.status, data) };
        return data;
      });
    });
  }

  // ---------------------------------------------------------------- filters

  function criteria() {
    return {
      search: $("lib-search").value.trim().toLowerCase(),
      publisher: $("lib-publisher").value,
      from: $("lib-from").value,
      to: $("lib-to").value,
      order: $("lib-sort").value
    };
  }

  /** The filters questions are asked with (POST /api/ask), or null when none is set. */
  function askFilters() {
    var c = criteria();
    var f = {};
    if (c.publisher) f.publisher = c.publisher;
    if (c.from) f.published_from = c.from;
    if (c.to) f.published_to = c.to;
    if (lib.only) f.documents = [lib.only.id];
    return Object.keys(f).length ? f : null;
  }

  function describe(f) {
    var parts = [];
    if (f.documents) parts.push("只看《" + lib.only.title + "》");
    if (f.publisher) parts.push(f.publisher);
    if (f.published_from || f.published_to) {
      parts.push((f.published_from ? QA.formatDate(f.published_from) : "最早") + " 至 "
        + (f.published_to ? QA.formatDate(f.published_to) : "今"));
    }
    return parts.join(" · ");
  }

  function updateFilterBar() {
    var f = askFilters();
    var bar = $("filter-bar");
    bar.hidden = !f;
    $("filter-text").textContent = f ? "筛选中：" + describe(f) : "";
  }

  function clearFilters() {
    $("lib-publisher").value = "";
    $("lib-from").value = "";
    $("lib-to").value = "";
    lib.only = null;
    renderList();
    updateFilterBar();
    QA.announce("已清除筛选，提问时查找全部文档");
  }

  function matches(doc, c) {
    if (c.search && String(doc.title || doc.id).toLowerCase().indexOf(c.search) < 0) return false;
    if (c.publisher && doc.publisher !== c.publisher) return false;
    var date = doc.published || "";
    if (c.from && !(date && date >= c.from)) return false;
    if (c.to && !(date && date <= c.to)) return false;
    return true;
  }

  // ---------------------------------------------------------------- list

  function renderPublishers() {
    var select = $("lib-publisher");
    var current = select.value;
    var names = [];
    lib.docs.forEach(function (d) { if (d.publisher && names.indexOf(d.publisher) < 0) names.push(d.publisher); });
    names.sort();
    select.textContent = "";
    select.append(el("option", { value: "" }, "全部发布单位"));
    names.forEach(function (n) { select.append(el("option", { value: n }, n)); });
    select.value = names.indexOf(current) >= 0 ? current : "";
  }

  function renderList() {
    var c = criteria();
    var shown = lib.docs.filter(function (d) { return matches(d, c); });
    shown.sort(function (a, b) {
      var x = a.published || "", y = b.published || "";
      if (x === y) return String(a.title).localeCompare(String(b.title), "zh");
      if (!x) return 1; // undated last either way
      if (!y) return -1;
      return c.order === "asc" ? (x < y ? -1 : 1) : (x < y ? 1 : -1);
    });
    var list = $("lib-list");
    list.textContent = "";
    shown.forEach(function (d) { list.append(docItem(d)); });
    $("lib-count").textContent = "共 " + lib.docs.length + " 份文档" + (shown.length !== lib.docs.length
      ? "，符合条件 " + shown.length + " 份" : "");
  }

  function docItem(d) {
    var meta = [d.published ? QA.formatDate(d.published) : "日期不详", d.publisher || "发布单位不详",
      (d.articles || 0) + " 篇文章"];
    var articles = el("ol", { class: "doc-articles", hidden: true });
    var openBtn = el("button", {
      type: "button", class: "link-btn doc-open", "aria-expanded": "false",
      onclick: function () { toggleArticles(d, articles, openBtn); }
    }, "查看文章");
    var onlyBtn = el("button", {
      type: "button", class: "link-btn doc-only",
      "aria-pressed": lib.only && lib.only.id === d.id ? "true" : "false",
      onclick: function () {
        lib.only = lib.only && lib.only.id === d.id ? null : { id: d.id, title: d.title || d.id };
        renderList();
        updateFilterBar();
        QA.announce(lib.only ? "提问时只查找《" + lib.only.title + "》" : "已取消只看这份文档");
      }
    }, lib.only && lib.only.id === d.id ? "取消只问这份" : "只问这份");
    var actions = [openBtn, onlyBtn];
    if (window.QAUploads && window.QAUploads.canDelete()) actions.push(window.QAUploads.deleteButton(d));
    return el("li", { class: "doc-item", "data-doc": d.id }, [
      el("p", { class: "doc-title" }, d.title || d.id),
      el("p", { class: "doc-meta" }, meta.join(" · ")),
      el("p", { class: "doc-file" }, d.id),
      el("div", { class: "doc-actions" }, actions),
      articles
    ]);
  }

  function toggleArticles(d, box, btn) {
    var open = box.hidden;
    box.hidden = !open;
    btn.setAttribute("aria-expanded", open ? "true" : "false");
    btn.textContent = open ? "收起文章" : "查看文章";
    if (!open || box.childElementCount) return;
    box.append(el("li", { class: "doc-loading" }, "正在加载…"));
    fetchJSON("/api/documents/" + encodeURIComponent(d.id)).then(function (doc) {
      box.textContent = "";
      (doc.articles || []).forEach(function (a) {
        var bits = [a.published ? QA.formatDate(a.published) : null, a.publisher, a.attribution].filter(Boolean);
        box.append(el("li", { class: "doc-article" }, [
          el("span", { class: "doc-article-title" }, a.title || "（无标题）"),
          bits.length ? el("span", { class: "doc-article-meta" }, bits.join(" · ")) : null
        ]));
      });
      if (!box.childElementCount) box.append(el("li", null, "这份文档没有分出文章。"));
    }, function (err) {
      box.textContent = "";
      box.append(el("li", { class: "doc-error" }, "无法加载：" + (err && err.shown ? err.shown : "网络错误")));
    });
  }

  function load() {
    $("lib-count").textContent = "正在加载文档列表…";
    return fetchJSON("/api/documents").then(function (data) {
      lib.docs = Array.isArray(data && data.documents) ? data.documents : [];
      if (lib.only && !lib.docs.some(function (d) { return d.id === lib.only.id; })) lib.only = null;
      renderPublishers();
      renderList();
      updateFilterBar();
    }, function (err) {
      $("lib-count").textContent = "无法加载文档列表：" + (err && err.shown ? err.shown : "网络错误");
    });
  }

  function open() {
    var dialog = $("library");
    if (!dialog.open) dialog.showModal();
    load();
  }

  function init() {
    var dialog = $("library");
    $("library-open").addEventListener("click", open);
    $("library-close").addEventListener("click", function () { dialog.close(); });
    dialog.addEventListener("click", function (ev) { if (ev.target === dialog) dialog.close(); });
    $("lib-search").addEventListener("input", renderList);
    $("lib-sort").addEventListener("change", renderList);
    ["lib-publisher", "lib-from", "lib-to"].forEach(function (id) {
      $(id).addEventListener("change", function () { renderList(); updateFilterBar(); });
    });
    $("filter-clear").addEventListener("click", clearFilters);
    QA.hooks.filters = askFilters;
    window.QALibrary = { reload: load };
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
