/* 新闻问答 — conversations kept in localStorage: the current one comes back after a reload, and
 * earlier ones are listed (对话记录) to reopen.  Each turn is stored as the question and the API's
 * response, so a reopened conversation shows the same answers and citations and can be continued.
 */
(function () {
  "use strict";

  var QA = window.QA;
  var el = QA.el, $ = QA.$;
  var KEY = "qa.conversations";
  var MAX_CONVERSATIONS = 30;
  var MAX_TURNS = 40;

  var store = { list: [], current: null }; // list: [{id, title, updated, turns: [{question, data}]}]

  function read() {
    try {
      var data = JSON.parse(window.localStorage.getItem(KEY) || "null");
      if (data && Array.isArray(data.list)) {
        store.list = data.list.filter(function (c) { return c && c.id && Array.isArray(c.turns); });
        store.current = typeof data.current === "string" ? data.current : null;
      }
    } catch (e) { store.list = []; store.current = null; }
  }

  function write() {
    var data = { list: store.list, current: store.current };
    // Full storage: drop the oldest conversations until it fits (the current one goes last).
    while (true) {
      try {
        window.localStorage.setItem(KEY, JSON.stringify(data));
        return;
      } catch (e) {
        if (store.list.length <= 1) return;
        store.list.pop();
      }
    }
  }

  function find(id) {
    return store.list.find(function (c) { return c.id === id; }) || null;
  }

  function onAnswer(question, response) {
    var conv = find(store.current);
    if (!conv) {
      conv = { id: "c" + Date.now().toString(36) + Math.random().toString(36).slice(2, 6), title: question, turns: [] };
      store.list.unshift(conv);
      store.current = conv.id;
    }
    conv.turns.push({ question: question, data: response });
    conv.turns = conv.turns.slice(-MAX_TURNS);
    conv.updated = new Date().toISOString();
    store.list.sort(function (a, b) { return String(b.updated).localeCompare(String(a.updated)); });
    store.list = store.list.slice(0, MAX_CONVERSATIONS);
    write();
  }

  function onReset() {
    store.current = null;
    write();
  }

  function openConversation(id) {
    var conv = find(id);
    if (!conv || QA.isBusy()) return;
    store.current = id;
    write();
    QA.restore(conv.turns);
    $("conversations").close();
    QA.announce("已打开对话：" + conv.title);
  }

  function removeConversation(id) {
    store.list = store.list.filter(function (c) { return c.id !== id; });
    if (store.current === id) {
      store.current = null;
      QA.newConversation();
    }
    write();
    renderList();
  }

  function when(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    return (d.getMonth() + 1) + "月" + d.getDate() + "日 " + String(d.getHours()).padStart(2, "0") + ":"
      + String(d.getMinutes()).padStart(2, "0");
  }

  function renderList() {
    var list = $("conv-list");
    list.textContent = "";
    store.list.forEach(function (c) {
      list.append(el("li", { class: "conv-item" + (c.id === store.current ? " current" : ""), "data-conv": c.id }, [
        el("button", {
          type: "button", class: "conv-open", "aria-current": c.id === store.current ? "true" : null,
          onclick: function () { openConversation(c.id); }
        }, [
          el("span", { class: "conv-title" }, c.title),
          el("span", { class: "conv-meta" }, c.turns.length + " 个问题 · " + when(c.updated))
        ]),
        el("button", {
          type: "button", class: "icon-btn conv-delete", "aria-label": "删除对话：" + c.title,
          onclick: function () { removeConversation(c.id); }
        }, "✕")
      ]));
    });
    $("conv-empty").hidden = store.list.length > 0;
  }

  function init() {
    read();
    QA.hooks.onAnswer = onAnswer;
    QA.hooks.onReset = onReset;
    var dialog = $("conversations");
    $("conversations-open").addEventListener("click", function () {
      renderList();
      if (!dialog.open) dialog.showModal();
    });
    $("conversations-close").addEventListener("click", function () { dialog.close(); });
    dialog.addEventListener("click", function (ev) { if (ev.target === dialog) dialog.close(); });
    $("conv-new").addEventListener("click", function () {
      dialog.close();
      QA.newConversation();
    });
    var conv = find(store.current);
    if (conv && conv.turns.length) QA.restore(conv.turns); // the conversation survives a reload
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
