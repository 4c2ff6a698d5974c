/* 新闻问答 — the document library: the documents the service holds, a page at a time, searched by
 * title or file name, sorted by date, filtered by publisher and date range (all on the server:
 * GET /api/documents); a document opens to its articles.  The publisher and date filters (or one
 * document) also restrict the questions asked (POST /api/ask's "filters"), shown above the question
 * box until cleared.
 *
 * Loaded after app.js (window.QA); text from the API only ever goes in with textContent.
 */
(function () {
  "use strict";

  var QA = window.QA;
  var el = QA.el, $ = QA.$;
  var lib = {
    docs: [], // the pages of GET /api/documents loaded so far
    total: 0, // documents matching the criteria
    indexed: 0, // documents the service holds
    next: null, // the next page's offset, null after the last
    seq: 0, // the latest list request: an older answer arriving late is dropped
    pageSize: 100,
    only: null // {id, title}: questions asked about this document alone
  };
  var SEARCH_DELAY_MS = 250; // typing fetches once the user pauses

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
      search: $("lib-search").value.trim(),
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
    refresh();
    updateFilterBar();
    QA.announce("已清除筛选，提问时查找全部文档");
  }

  // ---------------------------------------------------------------- list

  function renderPublishers(names) {
    var select = $("lib-publisher");
    var current = select.value;
    select.textContent = "";
    select.append(el("option", { value: "" }, "全部发布单位"));
    names.forEach(function (n) { select.append(el("option", { value: n }, n)); });
    select.value = names.indexOf(current) >= 0 ? current : "";
  }

  function renderList() {
    var list = $("lib-list");
    list.textContent = "";
    lib.docs.forEach(function (d) { list.append(docItem(d)); });
    var text = "共 " + lib.indexed + " 份文档";
    if (lib.total !== lib.indexed) text += "，符合条件 " + lib.total + " 份";
    if (lib.docs.length < lib.total) text += "，已显示 " + lib.docs.length + " 份";
    $("lib-count").textContent = text;
    var more = $("lib-more");
    more.hidden = lib.next === null;
    more.disabled = false;
    more.textContent = "加载更多（还有 " + (lib.total - lib.docs.length) + " 份）";
  }

  /** The query string of the list's criteria, from ``offset``. */
  function listQuery(offset) {
    var c = criteria();
    var q = new URLSearchParams({ order: c.order, offset: String(offset), limit: String(lib.pageSize) });
    if (c.search) q.set("q", c.search);
    if (c.publisher) q.set("publisher", c.publisher);
    if (c.from) q.set("published_from", c.from);
    if (c.to) q.set("published_to", c.to);
    return q.toString();
  }

  /** The list from its first page (``more``: the next page after those shown). */
  function fetchPage(more) {
    var seq = ++lib.seq;
    if (more) $("lib-more").disabled = true;
    return fetchJSON("/api/documents?" + listQuery(more ? lib.next : 0)).then(function (data) {
      if (seq !== lib.seq) return;
      var docs = Array.isArray(data && data.documents) ? data.documents : [];
      lib.docs = more ? lib.docs.concat(docs) : docs;
      lib.total = data.total;
      lib.indexed = data.indexed;
      lib.next = data.next_offset;
      renderList();
    }, function (err) {
      if (seq !== lib.seq) return;
      $("lib-more").disabled = false;
      $("lib-count").textContent = "无法加载文档列表：" + (err && err.shown ? err.shown : "网络错误");
    });
  }

  function refresh() { return fetchPage(false); }

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
    fetchJSON("/api/publishers").then(function (data) {
      var names = (data && Array.isArray(data.publishers) ? data.publishers : []).map(function (p) { return p.name; });
      renderPublishers(names.sort());
    }, function () { /* the list says what failed */ });
    if (lib.only) { // a document asked about alone may have been deleted
      var only = lib.only;
      fetchJSON("/api/documents?" + new URLSearchParams({ q: only.id, limit: "1000" })).then(function (data) {
        var kept = (data.documents || []).some(function (d) { return d.id === only.id; });
        if (!kept && lib.only === only) { lib.only = null; renderList(); updateFilterBar(); }
      }, function () {});
    }
    return refresh().then(updateFilterBar);
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
    var typing = null;
    $("lib-search").addEventListener("input", function () {
      clearTimeout(typing);
      typing = setTimeout(refresh, SEARCH_DELAY_MS);
    });
    $("lib-sort").addEventListener("change", refresh);
    ["lib-publisher", "lib-from", "lib-to"].forEach(function (id) {
      $(id).addEventListener("change", function () { refresh(); updateFilterBar(); });
    });
    $("lib-more").addEventListener("click", function () { fetchPage(true); });
    $("filter-clear").addEventListener("click", clearFilters);
    QA.hooks.filters = askFilters;
    window.QALibrary = { reload: load, settings: lib }; // settings: the tests shrink pageSize
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
