/* 新闻问答 — chat front end.
 *
 * Plain JS, no build step, no external assets.  The page is served under a
 * strict Content-Security-Policy, so: no inline scripts, no eval, and all
 * text coming from the API is inserted with textContent (never innerHTML).
 *
 * Offsets from the API (answer.span, passages[].highlights, char_start/char_end)
 * count Unicode code points (Python string indices), so text is handled as
 * arrays of code points here, not UTF-16 units.
 */
(function () {
  "use strict";

  var TOP_K = 5;
  var MAX_HISTORY = 6; // messages ({role, content}) sent with a follow-up question
  var MAX_QUESTION = 2000; // the backend rejects longer questions (question_too_long)
  var VISIBLE_PASSAGES = 3; // passage cards shown unfolded under an answer
  var EXAMPLES = [
    "宋洁是哪天实地督导上街区爱国卫生工作的？",
    "哪些街道开展了爱国卫生或创卫工作？",
    "金星啤酒厂片区改造项目推进会由谁主持？",
    "肥城市什么时候召开了政法队伍教育整顿动员部署会议？"
  ];

  var state = {
    history: [], // [{role: "user"|"assistant", content}]
    busy: false,
    replies: 0
  };

  var $ = function (id) { return document.getElementById(id); };
  var thread, welcome, form, input, sendBtn, live, charCount, newChatBtn;

  // What the other scripts of the page (library.js, uploads.js, conversations.js) plug in.
  var hooks = {
    filters: function () { return null; }, // the library panel's filters for /api/ask, or null
    onAnswer: function () {}, // (question, response): a reply was shown
    onReset: function () {} // the thread was emptied for a new conversation
  };

  // ---------------------------------------------------------------- helpers

  /** Create an element. props: class, text, attributes, on<event> handlers. */
  function el(tag, props, children) {
    var node = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (key) {
        var value = props[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "class") node.className = value;
        else if (key === "text") node.textContent = String(value);
        else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
        else node.setAttribute(key, value === true ? "" : String(value));
      });
    }
    appendAll(node, children);
    return node;
  }

  function appendAll(node, children) {
    if (children === null || children === undefined) return node;
    if (!Array.isArray(children)) children = [children];
    children.forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    });
    return node;
  }

  function codePoints(text) { return Array.from(text || ""); }

  function isInt(n) { return typeof n === "number" && isFinite(n) && Math.floor(n) === n; }

  /**
   * Render text with highlighted ranges.  ranges: [{start, end, cls}] in code
   * points; overlapping ranges are allowed (a segment gets every class that
   * covers it).  Returns a DocumentFragment of text nodes and <mark>s.
   */
  function highlighted(text, ranges) {
    var cps = Array.isArray(text) ? text : codePoints(text);
    var n = cps.length;
    var valid = (ranges || []).filter(function (r) {
      return r && isInt(r.start) && isInt(r.end) && r.start < r.end && r.start < n && r.end > 0;
    }).map(function (r) {
      return { start: Math.max(0, r.start), end: Math.min(n, r.end), cls: r.cls };
    });
    var cuts = [0, n];
    valid.forEach(function (r) { cuts.push(r.start, r.end); });
    cuts = Array.from(new Set(cuts)).sort(function (a, b) { return a - b; });

    var frag = document.createDocumentFragment();
    var lastKey = null, lastMark = null;
    for (var i = 0; i + 1 < cuts.length; i++) {
      var s = cuts[i], e = cuts[i + 1];
      if (s >= e) continue;
      var seg = cps.slice(s, e).join("");
      var classes = [];
      valid.forEach(function (r) {
        if (r.start <= s && r.end >= e && classes.indexOf(r.cls) < 0) classes.push(r.cls);
      });
      classes.sort();
      var key = classes.join(" ");
      if (!key) {
        frag.append(document.createTextNode(seg));
        lastKey = null; lastMark = null;
      } else if (key === lastKey && lastMark) {
        lastMark.append(document.createTextNode(seg));
      } else {
        lastMark = el("mark", { class: key }, seg);
        lastKey = key;
        frag.append(lastMark);
      }
    }
    return frag;
  }

  function formatDate(iso) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
    if (!m) return iso || "";
    return m[1] + "年" + parseInt(m[2], 10) + "月" + parseInt(m[3], 10) + "日";
  }

  function announce(message) {
    // Clear first so the same message twice is still announced.
    live.textContent = "";
    window.setTimeout(function () { live.textContent = message; }, 30);
  }

  function scrollToBottom() {
    window.scrollTo({ top: document.documentElement.scrollHeight, behavior: "smooth" });
  }

  // ---------------------------------------------------------------- composer

  function autosize() {
    input.style.height = "";
    if (!input.value) return; // one line (CSS min-height), even if the placeholder would wrap
    var max = Math.round(window.innerHeight * 0.35);
    input.style.height = Math.min(input.scrollHeight + 2, Math.max(max, 120)) + "px";
  }

  function updateCount() {
    var n = codePoints(input.value).length;
    if (n > MAX_QUESTION * 0.9) {
      charCount.hidden = false;
      charCount.textContent = n + " / " + MAX_QUESTION;
      charCount.classList.toggle("over", n > MAX_QUESTION);
    } else {
      charCount.hidden = true;
    }
  }

  function setBusy(busy) {
    state.busy = busy;
    sendBtn.disabled = busy;
    sendBtn.setAttribute("aria-busy", busy ? "true" : "false");
    form.classList.toggle("busy", busy);
    thread.setAttribute("aria-busy", busy ? "true" : "false");
    sendBtn.querySelector(".send-label").textContent = busy ? "稍候" : "发送";
  }

  function submitFromInput() {
    if (state.busy) return;
    var question = input.value;
    if (!question.trim()) {
      input.classList.add("shake");
      window.setTimeout(function () { input.classList.remove("shake"); }, 400);
      input.focus();
      return;
    }
    input.value = "";
    autosize();
    updateCount();
    ask(question);
  }

  // ---------------------------------------------------------------- thread

  function hideWelcome() {
    if (welcome && welcome.parentNode) welcome.remove();
    newChatBtn.hidden = false;
  }

  function renderWelcome() {
    var list = welcome.querySelector("#examples");
    list.textContent = "";
    EXAMPLES.forEach(function (q) {
      list.append(el("li", null, el("button", {
        type: "button",
        class: "example",
        onclick: function () { if (!state.busy) ask(q); }
      }, q)));
    });
  }

  function clearThread() {
    state.history = [];
    thread.textContent = "";
    thread.append(welcome);
    newChatBtn.hidden = true;
  }

  function resetConversation() {
    if (state.busy) return;
    clearThread();
    hooks.onReset();
    input.value = "";
    autosize();
    input.focus();
    announce("已开始新对话");
  }

  /** Show a stored conversation ([{question, data}]) as it was, and continue from it. */
  function restore(turns) {
    if (state.busy) return;
    clearThread();
    (turns || []).forEach(function (t) {
      if (!t || typeof t.question !== "string" || !t.data || typeof t.data !== "object" || !t.data.answer) return;
      hideWelcome();
      appendUser(t.question);
      appendAnswer(t.data);
      state.history.push({ role: "user", content: t.question }, { role: "assistant", content: summarize(t.data) });
    });
  }

  function appendUser(question) {
    var node = el("div", { class: "msg msg-user" }, [
      el("span", { class: "visually-hidden" }, "你问："),
      el("div", { class: "bubble user-bubble" }, question)
    ]);
    thread.append(node);
    return node;
  }

  function appendTyping() {
    var node = el("div", { class: "msg msg-assistant msg-typing", "aria-hidden": "true" },
      el("div", { class: "bubble typing-bubble" }, [
        el("span", { class: "dots" }, [el("span"), el("span"), el("span")]),
        el("span", { class: "typing-text" }, "正在查找相关新闻…")
      ]));
    thread.append(node);
    return node;
  }

  function summarize(data) {
    var answer = data.answer || {};
    var items = (answer.items || []).map(function (it) { return it && it.text; }).filter(Boolean);
    if (items.length) return items.join("、");
    var parts = slotLines(answer.slots);
    if (parts.length) return parts.join("；");
    if (answer.text) return answer.text;
    return "没有找到相关内容。";
  }

  /** "part：answer" for each part of a question asking several things (answer.slots). */
  function slotLines(slots) {
    if (!Array.isArray(slots) || slots.length < 2) return [];
    return slots.map(function (s) {
      return partLabel(s) + "：" + (s && typeof s.text === "string" && s.text ? s.text : "未找到");
    });
  }

  function partLabel(slot) {
    return String((slot && slot.question) || "").replace(/[？?。\s]+$/, "");
  }

  /** Numbered citation chip for passage index i (0-based) of a reply. */
  function chip(reply, i, extraClass) {
    var p = reply.passages[i];
    if (!p) return null;
    var title = (p.source && p.source.title) || "";
    return el("button", {
      type: "button",
      class: "cite-chip" + (extraClass ? " " + extraClass : ""),
      "data-passage": i,
      title: "查看原文：" + title,
      "aria-label": "引用 " + (i + 1) + "：" + title + "，查看原文",
      onclick: function (ev) { ev.stopPropagation(); window.QA.openSource(reply, i); }
    }, String(i + 1));
  }

  function chips(reply, indices) {
    var seen = [];
    (indices || []).forEach(function (i) {
      if (isInt(i) && i >= 0 && i < reply.passages.length && seen.indexOf(i) < 0) seen.push(i);
    });
    if (!seen.length) return null;
    return el("span", { class: "chips" }, seen.map(function (i) { return chip(reply, i); }));
  }

  /** The evidence sentence of the answer (answer.evidence, else the sentence around the span),
   *  with the short answer highlighted. */
  function answerContext(reply) {
    var answer = reply.answer;
    var p = reply.passages[answer.passage];
    if (!p || !Array.isArray(answer.span)) return null;
    var cps = codePoints(p.text);
    var a = answer.span[0], b = answer.span[1];
    if (!isInt(a) || !isInt(b) || a < 0 || b > cps.length || a >= b) return null;
    var stop = /[。！？!?；;\n]/;
    var LIMIT = 70;
    var s = a, e = b;
    var ev = answer.evidence;
    if (ev && ev.passage === answer.passage && isInt(ev.span[0]) && isInt(ev.span[1])
        && ev.span[0] <= a && ev.span[1] >= b && ev.span[1] <= cps.length) {
      s = ev.span[0];
      e = ev.span[1];
    } else {
      while (s > 0 && a - s < LIMIT && !stop.test(cps[s - 1])) s--;
      while (e < cps.length && e - b < LIMIT && !stop.test(cps[e - 1] || "")) e++;
    }
    if (s === a && e === b) return null; // the answer is the whole sentence already
    var before = s > 0 && !stop.test(cps[s - 1]) ? "…" : "";
    var after = e < cps.length && !stop.test(cps[e - 1]) ? "…" : "";
    var frag = highlighted(cps.slice(s, e), [{ start: a - s, end: b - s, cls: "answer" }]);
    return el("blockquote", { class: "answer-context" }, [before, frag, after]);
  }

  function passageMeta(source) {
    var parts = [];
    if (source.section) parts.push(el("span", { class: "meta-section" }, source.section));
    if (source.published) parts.push(el("time", { datetime: source.published }, formatDate(source.published)));
    if (source.publisher) parts.push(el("span", { class: "meta-publisher" }, source.publisher));
    if (source.attribution) parts.push(el("span", { class: "meta-attribution" }, source.attribution));
    return parts.length ? el("div", { class: "passage-meta" }, parts) : null;
  }

  function passageCard(reply, i) {
    var p = reply.passages[i];
    var source = p.source || {};
    var ranges = (p.highlights || []).map(function (h) {
      return { start: h[0], end: h[1], cls: "term" };
    });
    var answer = reply.answer;
    if (answer.passage === i && Array.isArray(answer.span)) {
      ranges.push({ start: answer.span[0], end: answer.span[1], cls: "answer" });
    }
    var card = el("li", {
      class: "passage-card",
      "data-passage": i,
      onclick: function () {
        // Let people select text in a card without opening the source.
        var sel = window.getSelection();
        if (sel && String(sel).length) return;
        window.QA.openSource(reply, i);
      }
    }, [
      el("div", { class: "passage-head" }, [
        chip(reply, i, "passage-num"),
        el("h4", { class: "passage-title" }, source.title || "（无标题）")
      ]),
      passageMeta(source),
      el("p", { class: "passage-text" }, highlighted(p.text, ranges)),
      el("div", { class: "passage-foot" }, [
        el("span", { class: "passage-file", title: "来源文件" }, source.document || ""),
        el("button", {
          type: "button",
          class: "link-btn",
          onclick: function (ev) { ev.stopPropagation(); window.QA.openSource(reply, i); }
        }, "查看原文 ›")
      ])
    ]);
    return card;
  }

  function passageList(reply, from, to) {
    var list = el("ol", { class: "passage-list", start: from + 1 });
    for (var i = from; i < to; i++) list.append(passageCard(reply, i));
    return list;
  }

  /** Passage cards: the first few shown, the rest folded behind "更多段落". */
  function passageSection(reply, found) {
    var n = reply.passages.length;
    var heading = (found ? "相关段落" : "最接近的段落") + "（" + n + "）";
    if (!found) {
      return el("details", { class: "passages passages-fold" }, [
        el("summary", { class: "passages-title" }, heading), passageList(reply, 0, n)
      ]);
    }
    var shown = n > VISIBLE_PASSAGES + 1 ? VISIBLE_PASSAGES : n;
    var section = el("section", { class: "passages", "aria-label": heading }, [
      el("h3", { class: "passages-title" }, heading), passageList(reply, 0, shown)
    ]);
    if (shown < n) {
      section.append(el("details", { class: "passages-more" }, [
        el("summary", null, "更多段落（" + (n - shown) + "）"), passageList(reply, shown, n)
      ]));
    }
    return section;
  }

  function appendAnswer(data) {
    var answer = data.answer || {};
    var reply = {
      id: ++state.replies,
      question: data.question,
      answer: {
        text: typeof answer.text === "string" && answer.text ? answer.text : null,
        passage: isInt(answer.passage) ? answer.passage : null,
        span: Array.isArray(answer.span) ? answer.span : null,
        items: Array.isArray(answer.items) ? answer.items.filter(function (it) { return it && it.text; }) : [],
        confidence: typeof answer.confidence === "number" ? answer.confidence : null,
        evidence: answer.evidence && Array.isArray(answer.evidence.span) && isInt(answer.evidence.passage)
          ? answer.evidence : null,
        // A question asking several things (…分别是哪天？): one cited answer per part.
        slots: Array.isArray(answer.slots) && answer.slots.length > 1 ? answer.slots.filter(Boolean) : []
      },
      passages: Array.isArray(data.passages) ? data.passages : []
    };
    var a = reply.answer;
    var found = Boolean(a.text) || a.items.length > 0 || a.slots.some(function (s) { return Boolean(s.text); });
    var body = el("div", { class: "bubble answer-bubble" });
    var node = el("article", {
      class: "msg msg-assistant" + (found ? "" : " msg-empty"),
      "aria-label": "回答",
      "data-reply": reply.id
    }, body);

    if (typeof data.rewritten_question === "string" && data.rewritten_question) {
      // A follow-up is answered as merged with the question before it: say how, so a wrong answer is explained.
      body.append(el("p", { class: "rewritten" }, [
        el("span", { class: "rewritten-label" }, "理解为："), data.rewritten_question
      ]));
    }

    var textBlock = null, listBlock = null;
    if (a.slots.length && found) {
      textBlock = partsBlock(reply);
    } else if (a.text) {
      // With a list answer, the single-span answer is secondary: shown after the list.
      textBlock = el("div", { class: "answer" + (a.items.length ? " answer-secondary" : "") }, [
        el("p", { class: "answer-label" }, a.items.length ? "答案摘录" : "答案"),
        el("p", { class: "answer-text" }, [
          el("span", { class: "answer-value" }, a.text),
          a.passage !== null ? chips(reply, [a.passage]) : null
        ])
      ]);
      var ctx = answerContext(reply);
      if (ctx) textBlock.append(ctx);
    }

    if (a.items.length) {
      var list = el("ol", { class: "answer-items" });
      a.items.forEach(function (item) {
        list.append(el("li", { class: "answer-item" }, [
          el("span", { class: "item-text" }, item.text),
          chips(reply, item.passages)
        ]));
      });
      listBlock = el("div", { class: "answer answer-list" }, [
        el("p", { class: "answer-label" }, "共找到 " + a.items.length + " 项"),
        list
      ]);
    }
    if (listBlock) body.append(listBlock);
    if (textBlock) body.append(textBlock);

    if (!found) {
      body.append(el("div", { class: "no-answer" }, [
        el("p", { class: "no-answer-title" }, "没有找到相关内容"),
        el("p", { class: "no-answer-hint" }, typeof data.notice === "string" ? data.notice : reply.passages.length
          ? "新闻里没有能直接回答这个问题的内容。可以换个说法再问，或看看下面最接近的段落。"
          : "新闻里没有与这个问题相关的内容，可以换个说法再问。")
      ]));
    }

    var metaBits = [];
    if (a.text && a.confidence !== null) {
      // The model's probability that the corpus answers the question, said in words.
      var sure = a.confidence >= 0.7;
      metaBits.push(el("span", { class: "confidence" + (sure ? "" : " low") }, sure ? "较确定" : "仅供参考"));
    }
    if (typeof data.took_ms === "number") metaBits.push(el("span", null, "用时 " + Math.round(data.took_ms) + " 毫秒"));
    if (found) metaBits.push(copyButton(reply));
    if (metaBits.length) body.append(el("p", { class: "answer-meta" }, metaBits));

    if (reply.passages.length) {
      body.append(found || typeof data.notice === "string" ? passageSection(reply, found) : closestSection(reply));
    }

    thread.append(node);

    var spoken = a.slots.length && found ? "分项回答：" + slotLines(a.slots).join("；")
      : a.text ? "回答：" + a.text
      : a.items.length ? "找到 " + a.items.length + " 项：" + a.items.map(function (it) { return it.text; }).join("、")
      : "没有找到相关内容";
    announce(spoken + (reply.passages.length ? "。附 " + reply.passages.length + " 个相关段落。" : "。"));
    return node;
  }

  /** One row per part of the question: the part as read, its short answer with its citation (or
   *  未找到), and the sentence it comes from. */
  function partsBlock(reply) {
    var list = el("ol", { class: "answer-parts" });
    reply.answer.slots.forEach(function (slot) {
      var has = typeof slot.text === "string" && slot.text;
      var row = el("li", { class: "answer-part" + (has ? "" : " answer-part-empty") }, [
        el("p", { class: "part-question" }, partLabel(slot)),
        el("p", { class: "answer-text" }, [
          el("span", { class: "answer-value" }, has ? slot.text : "未找到"),
          has && isInt(slot.passage) ? chips(reply, [slot.passage]) : null
        ])
      ]);
      var ev = slot.evidence;
      if (has && ev && typeof ev.text === "string" && ev.text && ev.text !== slot.text) {
        row.append(el("p", { class: "answer-context" }, ev.text));
      }
      list.append(row);
    });
    return el("div", { class: "answer answer-parted" }, [
      el("p", { class: "answer-label" }, "分项回答（" + reply.answer.slots.length + " 项）"),
      list
    ]);
  }

  /** No answer, but relevant text: the best passage shown open, the others folded. */
  function closestSection(reply) {
    var n = reply.passages.length;
    var section = el("section", { class: "passages passages-closest", "aria-label": "最相关原文" }, [
      el("h3", { class: "passages-title" }, "最相关原文"), passageList(reply, 0, 1)
    ]);
    if (n > 1) {
      section.append(el("details", { class: "passages-more passages-fold" }, [
        el("summary", null, "其他段落（" + (n - 1) + "）"), passageList(reply, 1, n)
      ]));
    }
    return section;
  }

  /** The answer with its citation (title, date, publisher), as it is put on the clipboard. */
  function citedText(reply) {
    var a = reply.answer;
    var lines = [];
    if (a.items.length) lines.push(a.items.map(function (it) { return it.text; }).join("、"));
    var parts = slotLines(a.slots);
    if (parts.length) lines.push.apply(lines, parts);
    else if (a.text && !a.items.length) lines.push(a.text);
    if (!parts.length && a.evidence && a.evidence.text) lines.push(a.evidence.text);
    var cited = [];
    if (a.passage !== null) cited.push(a.passage);
    a.slots.forEach(function (sl) { if (isInt(sl.passage) && cited.indexOf(sl.passage) < 0) cited.push(sl.passage); });
    a.items.forEach(function (it) { (it.passages || []).forEach(function (i) { if (cited.indexOf(i) < 0) cited.push(i); }); });
    cited.slice(0, 3).forEach(function (i) {
      var src = (reply.passages[i] || {}).source;
      if (!src) return;
      var cite = [src.title ? "《" + src.title + "》" : null, formatDate(src.published), src.publisher].filter(Boolean);
      lines.push("——" + cite.join("，"));
    });
    return lines.join("\n");
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // Plain http on another host: the clipboard API is not there; a selected textarea still copies.
    return new Promise(function (resolve, reject) {
      var area = el("textarea", { class: "visually-hidden", readonly: true });
      area.value = text;
      document.body.append(area);
      area.select();
      var ok = document.execCommand("copy");
      area.remove();
      if (ok) resolve(); else reject(new Error("copy failed"));
    });
  }

  function copyButton(reply) {
    var btn = el("button", {
      type: "button",
      class: "link-btn copy-btn",
      "aria-label": "复制答案和出处",
      onclick: function () {
        copyText(citedText(reply)).then(function () {
          btn.textContent = "已复制";
          announce("已复制答案和出处");
        }, function () {
          btn.textContent = "复制失败";
          announce("复制失败，请手动选择文字复制");
        });
        window.setTimeout(function () { btn.textContent = "复制"; }, 2000);
      }
    }, "复制");
    return btn;
  }

  function appendError(message, question) {
    var retry = el("button", {
      type: "button",
      class: "ghost-btn retry-btn",
      onclick: function () { if (!state.busy) { node.remove(); ask(question, { retry: true }); } }
    }, "重试");
    var node = el("div", { class: "msg msg-assistant msg-error", role: "alert" },
      el("div", { class: "bubble error-bubble" }, [
        el("p", { class: "error-title" }, "出错了"),
        el("p", { class: "error-message" }, message),
        retry
      ]));
    thread.append(node);
    return node;
  }

  // ---------------------------------------------------------------- ask

  // What the API's error codes mean to a reader of the Chinese UI; the API's own
  // (English) message follows in brackets for whoever reports the problem.
  var ERROR_TEXT = {
    question_too_long: "问题太长了，请精简一些再问。",
    empty_question: "请先输入问题。",
    history_too_long: "这段对话太长了，请点「新对话」重新开始。",
    index_not_ready: "索引还没有准备好，请稍后再试。",
    payload_too_large: "发送的内容太大了。",
    invalid_json: "请求格式不正确。",
    invalid_field: "请求格式不正确。",
    internal_error: "服务器出了点问题，已记录下来，请稍后再试。"
  };

  function errorMessage(status, data) {
    var err = data && data.error;
    if (err && typeof err === "object" && err.message) {
      var zh = ERROR_TEXT[err.code];
      return zh ? zh + "（" + String(err.message) + "）" : String(err.message);
    }
    if (typeof err === "string" && err) return err;
    if (status === 503) return "服务暂时不可用（HTTP 503），请稍后再试。";
    return "服务器返回错误（HTTP " + status + "）。";
  }

  function askBody(question, history) {
    var body = { question: question, top_k: TOP_K, history: history };
    var filters = hooks.filters();
    if (filters) body.filters = filters;
    return body;
  }

  function ask(question, opts) {
    if (state.busy) return;
    hideWelcome();
    var userNode = opts && opts.retry ? null : appendUser(question);
    var history = state.history.slice(-MAX_HISTORY);
    setBusy(true);
    var typing = appendTyping();
    announce("正在查找答案…");
    scrollToBottom();

    var done = function () {
      typing.remove();
      setBusy(false);
    };

    fetch("/api/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(askBody(question, history))
    }).then(function (resp) {
      return resp.text().then(function (raw) {
        var data = null;
        try { data = raw ? JSON.parse(raw) : null; } catch (e) { data = null; }
        if (!resp.ok) throw { shown: errorMessage(resp.status, data) };
        if (!data || typeof data !== "object" || !data.answer || typeof data.answer !== "object") {
          throw { shown: "服务器返回了无法识别的数据。" };
        }
        return data;
      });
    }).then(function (data) {
      done();
      var node = appendAnswer(data);
      state.history.push({ role: "user", content: question }, { role: "assistant", content: summarize(data) });
      hooks.onAnswer(question, data);
      (userNode || node).scrollIntoView({ behavior: "smooth", block: "start" });
    }, function (err) {
      done();
      var message = err && err.shown ? err.shown
        : "网络错误：无法连接到服务器" + (err && err.message ? "（" + err.message + "）" : "") + "，请检查网络后重试。";
      appendError(message, question);
      announce("出错了：" + message);
      scrollToBottom();
    });
  }

  // ---------------------------------------------------------------- wiring

  function init() {
    thread = $("thread");
    welcome = $("welcome");
    form = $("ask-form");
    input = $("question");
    sendBtn = $("send");
    live = $("live");
    charCount = $("char-count");
    newChatBtn = $("new-chat");

    renderWelcome();

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      submitFromInput();
    });
    input.addEventListener("keydown", function (ev) {
      // Enter sends; Shift+Enter is a newline; never send while an IME is composing.
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
        ev.preventDefault();
        submitFromInput();
      }
    });
    input.addEventListener("input", function () { autosize(); updateCount(); });
    newChatBtn.addEventListener("click", resetConversation);

    autosize();
    input.focus();
  }

  window.QA = {
    el: el, $: $, formatDate: formatDate, announce: announce, errorMessage: errorMessage,
    highlighted: highlighted, codePoints: codePoints, isInt: isInt,
    hooks: hooks, restore: restore, newConversation: resetConversation,
    isBusy: function () { return state.busy; },
    openSource: function () {}, // sourceview.js
    forgetDocument: function () {} // sourceview.js: drop a deleted document's cached text
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
