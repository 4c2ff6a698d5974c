/* 新闻问答 — the source view: the cited document's readable text (as the cleaning stage makes it,
 * paragraphs kept, titles as headings), the cited passage lightly marked and the short answer
 * strongly, scrolled into view inside the dialog's body.
 *
 * The API's offsets (char_start/char_end, answer.span) count code points of the original text;
 * GET /api/documents/<id> gives the readable text with runs mapping it onto the original, so the
 * marks land on exactly the cited characters.  Loaded after app.js (window.QA).
 */
(function () {
  "use strict";

  var QA = window.QA;
  var el = QA.el, $ = QA.$, highlighted = QA.highlighted, codePoints = QA.codePoints, isInt = QA.isInt;
  var formatDate = QA.formatDate, errorMessage = QA.errorMessage;
  var state = {
    docs: new Map(), // document id -> Promise<document JSON>
    source: null // {mark} of the open source view
  };

  function loadDocument(id) {
    if (!state.docs.has(id)) {
      var promise = fetch("/api/documents/" + encodeURIComponent(id), { headers: { "Accept": "application/json" } })
        .then(function (resp) {
          return resp.text().then(function (raw) {
            var data = null;
            try { data = raw ? JSON.parse(raw) : null; } catch (e) { data = null; }
            if (!resp.ok) throw { shown: errorMessage(resp.status, data) };
            if (!data || typeof data.text !== "string") throw { shown: "服务器返回了无法识别的原文数据。" };
            return data;
          });
        });
      promise.catch(function () { state.docs.delete(id); });
      state.docs.set(id, promise);
    }
    return state.docs.get(id);
  }

  /**
   * Map code-point offsets of a (cleaned) passage text onto the original
   * document: the passage equals the original range with whitespace removed.
   * Returns an array (passage index -> original index, null for whitespace),
   * or null if the texts do not line up.
   */
  function alignPassage(origCps, start, end, passCps) {
    var map = new Array(passCps.length);
    var j = start;
    var ws = /\s/;
    for (var i = 0; i < passCps.length; i++) {
      var c = passCps[i];
      if (ws.test(c)) { map[i] = null; continue; }
      while (j < end && ws.test(origCps[j])) j++;
      if (j >= end || origCps[j] !== c) return null;
      map[i] = j++;
    }
    return map;
  }

  /** Original index -> readable index (-1: dropped by cleaning), from the API's runs. */
  function readableIndex(runs, length) {
    var inv = new Int32Array(length).fill(-1);
    (runs || []).forEach(function (r) {
      for (var k = 0; k < r[2]; k++) if (r[1] + k < length) inv[r[1] + k] = r[0] + k;
    });
    return inv;
  }

  /** The readable range covering original indices (an array of them, or [start, end)). */
  function toReadable(inv, indices) {
    var lo = -1, hi = -1;
    indices.forEach(function (o) {
      var r = inv[o];
      if (r === undefined || r < 0) return;
      if (lo < 0 || r < lo) lo = r;
      if (r + 1 > hi) hi = r + 1;
    });
    return lo < 0 ? null : [lo, hi];
  }

  function range(a, b) { var out = []; for (var k = a; k < b; k++) out.push(k); return out; }

  /** The readable text as paragraphs (titles as headings), with the cited passage and answer marked. */
  function renderReadable(box, rcps, headings, marks) {
    var heads = {};
    (headings || []).forEach(function (h) { heads[h[0]] = h[1]; });
    var start = 0;
    for (var k = 0; k <= rcps.length; k++) {
      if (k < rcps.length && rcps[k] !== "\n") continue;
      if (k > start) {
        var ranges = marks.map(function (m) { return { start: m.start - start, end: m.end - start, cls: m.cls }; });
        var heading = heads[start] === k;
        box.append(el(heading ? "h3" : "p", { class: heading ? "source-heading" : "source-para" },
          highlighted(rcps.slice(start, k), ranges)));
      }
      start = k + 1;
    }
  }

  function openSource(reply, i) {
    var p = reply.passages[i];
    if (!p || !p.source) return;
    var source = p.source;
    var dialog = $("source-view");
    var textBox = $("source-text");
    var status = $("source-status");
    var article = $("source-article");

    $("source-title").textContent = source.title || "原文";
    $("source-meta").textContent = [formatDate(source.published), source.publisher].filter(Boolean).join(" · ");
    $("source-file").textContent = source.document ? "文件：" + source.document : "";
    article.hidden = true;
    textBox.textContent = "";
    status.textContent = "正在加载原文…";
    status.className = "source-status";
    dialog.setAttribute("data-state", "loading");
    $("source-jump").hidden = true;
    state.source = null;
    if (!dialog.open) dialog.showModal();

    var token = {};
    dialog._token = token;
    loadDocument(source.document).then(function (doc) {
      if (dialog._token !== token) return;
      var cps = codePoints(doc.text);
      var start = source.char_start, end = source.char_end;
      if (!isInt(start) || !isInt(end) || start < 0 || end > cps.length || start >= end) {
        throw { shown: "引用位置无效（" + start + "–" + end + "）。" };
      }
      var art = (doc.articles || []).find(function (x) {
        return isInt(x.char_start) && isInt(x.char_end) && x.char_start <= start && end <= x.char_end;
      });
      var heading = source.title || (art && art.title) || doc.title || doc.id;
      $("source-title").textContent = heading;
      $("source-meta").textContent = [formatDate(doc.published || source.published),
        doc.publisher || source.publisher].filter(Boolean).join(" · ");

      var info = [];
      if (doc.title && doc.title !== heading) info.push("所在文档：" + doc.title);
      if (source.section) info.push("栏目：" + source.section);
      if (source.attribution) info.push("来源：" + source.attribution);
      if (info.length) { article.textContent = info.join(" · "); article.hidden = false; }

      // The readable text (as cleaning makes it); without it, the original text as it is.
      var rd = doc.readable && typeof doc.readable.text === "string" ? doc.readable
        : { text: doc.text, runs: [[0, 0, cps.length]], headings: [] };
      var inv = readableIndex(rd.runs, cps.length);
      var marks = [];
      var cite = toReadable(inv, range(start, end));
      if (cite) marks.push({ start: cite[0], end: cite[1], cls: "cite" });
      // The short answer: passage offsets -> original offsets -> readable offsets.
      if (reply.answer.passage === i && Array.isArray(reply.answer.span)) {
        var map = alignPassage(cps, start, end, codePoints(p.text));
        var orig = map ? map.slice(reply.answer.span[0], reply.answer.span[1]).filter(isInt) : [];
        var ans = toReadable(inv, orig);
        if (ans) marks.push({ start: ans[0], end: ans[1], cls: "answer" });
      }
      renderReadable(textBox, codePoints(rd.text), rd.headings, marks);
      // A PDF: its page beside the text, the cited and answer characters marked (pageview.js).
      if (window.PageView) window.PageView.show(doc, source, typeof orig === "undefined" ? null : orig);
      var target = textBox.querySelector("mark.answer") || textBox.querySelector("mark.cite");
      status.textContent = "";
      state.source = { mark: target };
      $("source-jump").hidden = !target;
      dialog.setAttribute("data-state", "ready");
      if (target) window.requestAnimationFrame(function () { scrollToCite(target, false); });
    }).catch(function (err) {
      if (dialog._token !== token) return;
      status.textContent = "无法加载原文：" + (err && err.shown ? err.shown : "网络错误" + (err && err.message ? "（" + err.message + "）" : ""));
      status.className = "source-status error";
      dialog.setAttribute("data-state", "error");
    });
  }

  /** Bring the marked answer (else the cited passage) into the scrolling body, a little below its top
   *  edge, so that nothing above the body (the dialog's header) covers it. */
  function scrollToCite(mark, smooth) {
    var body = $("source-body");
    var first = $("source-text").querySelector("mark.cite") || mark;
    // The article's title, when the passage opens its article: read with it, not cut off above it.
    var para = first.closest(".source-para");
    var heading = para && para.previousElementSibling;
    if (heading && heading.classList.contains("source-heading")) first = heading;
    var top = first.getBoundingClientRect().top;
    var markRect = mark.getBoundingClientRect();
    // Start at the passage when the passage and the answer fit together; else centre on the answer.
    var offset = markRect.bottom - top < body.clientHeight * 0.7 ? top : markRect.top - body.clientHeight * 0.3;
    var y = body.scrollTop + offset - body.getBoundingClientRect().top - 16;
    body.scrollTo({ top: Math.max(0, y), behavior: smooth ? "smooth" : "auto" });
  }

  function closeSource() {
    var dialog = $("source-view");
    if (dialog.open) dialog.close();
  }

  function init() {
    var dialog = $("source-view");
    $("source-close").addEventListener("click", closeSource);
    $("source-jump").addEventListener("click", function () {
      if (state.source) scrollToCite(state.source.mark, true);
    });
    dialog.addEventListener("click", function (ev) {
      if (ev.target === dialog) closeSource(); // click on the backdrop
    });
    dialog.addEventListener("close", function () {
      dialog._token = null;
      dialog.removeAttribute("data-state");
    });
    QA.openSource = openSource;
    QA.forgetDocument = function (id) { state.docs.delete(id); };
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
