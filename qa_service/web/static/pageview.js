/* The page of a PDF citation: the rendered page with the cited characters' boxes highlighted (the short
 * answer's more strongly), shown in the source view beside the readable extracted text.
 * app.js calls PageView.show(doc, source, answerOffsets) when the source view has loaded a document:
 * doc is GET /api/documents/<id> (format, pages, page_sizes), source the passage's source (page,
 * page_end, boxes: [page, left, top, right, bottom] in PDF points from the page's top-left), and
 * answerOffsets the short answer's characters as offsets into doc.text (or null). */
(function () {
  "use strict";

  var RENDER_SIZE = 1400; // the longer side of the page image, in pixels (the server bounds it too)
  var shown = 0; // the latest show() call: a late answer of an earlier one is dropped

  function docPath(id) {
    return "/api/documents/" + String(id).split("/").map(encodeURIComponent).join("/");
  }

  function panel() {
    var existing = document.getElementById("page-view");
    if (existing) return existing;
    var body = document.getElementById("source-body");
    if (!body || !body.parentNode) return null;
    var node = document.createElement("div");
    node.id = "page-view";
    node.className = "pageview";
    node.tabIndex = 0;
    node.setAttribute("aria-label", "原文页面");
    body.parentNode.insertBefore(node, body);
    return node;
  }

  function hide() {
    var dialog = document.getElementById("source-view");
    if (dialog) dialog.classList.remove("has-page");
    var node = document.getElementById("page-view");
    if (node) node.textContent = "";
  }

  function placeBox(figure, size, box, cls) {
    var mark = document.createElement("div");
    mark.className = "pv-box " + cls;
    var pad = 1; // points: the highlight a hair larger than the glyphs
    mark.style.left = ((box[1] - pad) / size[0] * 100) + "%";
    mark.style.top = ((box[2] - pad) / size[1] * 100) + "%";
    mark.style.width = ((box[3] - box[1] + 2 * pad) / size[0] * 100) + "%";
    mark.style.height = ((box[4] - box[2] + 2 * pad) / size[1] * 100) + "%";
    figure.appendChild(mark);
    return mark;
  }

  function pageFigure(doc, n) {
    var figure = document.createElement("figure");
    figure.className = "pageview-page";
    figure.setAttribute("data-page", String(n));
    var img = document.createElement("img");
    img.className = "pageview-img";
    img.alt = "第 " + n + " 页";
    img.decoding = "async";
    img.src = docPath(doc.id) + "/pages/" + n + ".png?size=" + RENDER_SIZE;
    figure.appendChild(img);
    var caption = document.createElement("figcaption");
    caption.textContent = "第 " + n + " 页 / 共 " + doc.pages + " 页";
    figure.appendChild(caption);
    return figure;
  }

  function markAnswer(doc, figures, offsets, call) {
    if (!offsets || !offsets.length) return;
    var start = Math.min.apply(null, offsets), end = Math.max.apply(null, offsets) + 1;
    fetch(docPath(doc.id) + "/boxes?start=" + start + "&end=" + end)
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (call !== shown || !data || !Array.isArray(data.boxes)) return;
        data.boxes.forEach(function (b) {
          var figure = figures[b[0]];
          if (figure) placeBox(figure, doc.page_sizes[b[0] - 1], b, "pv-answer");
        });
      })
      .catch(function () { /* the cited lines stay highlighted: enough to find the answer */ });
  }

  function show(doc, source, answerOffsets) {
    var call = ++shown;
    if (!doc || doc.format !== "pdf" || !source || !source.page || !Array.isArray(source.boxes)) {
      hide();
      return;
    }
    var node = panel();
    if (!node) return;
    node.textContent = "";
    document.getElementById("source-view").classList.add("has-page");
    var first = source.page, last = source.page_end || source.page;
    var figures = {};
    var firstMark = null;
    for (var n = first; n <= last; n++) {
      var figure = pageFigure(doc, n);
      figures[n] = figure;
      node.appendChild(figure);
    }
    source.boxes.forEach(function (b) {
      var figure = figures[b[0]];
      if (!figure) return;
      var mark = placeBox(figure, doc.page_sizes[b[0] - 1], b, "pv-cite");
      if (!firstMark) firstMark = mark;
    });
    markAnswer(doc, figures, answerOffsets, call);
    if (firstMark) {
      var img = figures[first].querySelector("img");
      img.addEventListener("load", function () {
        if (call === shown) node.scrollTop = Math.max(0, firstMark.offsetTop - 40);
      });
    }
  }

  window.PageView = { show: show, hide: hide };
})();
