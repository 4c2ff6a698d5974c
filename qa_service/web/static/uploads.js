/* 新闻问答 — adding and deleting documents from the library panel, for whoever holds the admin token.
 *
 * The token is asked for once per browser session and kept in sessionStorage only: it goes out in
 * the Authorization header of POST/DELETE /api/documents, never in a URL, and is never logged or shown.
 * Each file is sent on its own (XMLHttpRequest, for upload progress) and gets its own line: progress,
 * then indexed or rejected with the reason.
 */
(function () {
  "use strict";

  var QA = window.QA;
  var el = QA.el, $ = QA.$;
  var TOKEN_KEY = "qa.adminToken";

  // The API's error codes for uploads and deletions, as a reader of the Chinese page needs them.
  var REASONS = {
    unsupported_type: "不支持这种文件类型",
    unsupported_media_type: "不支持这种文件类型",
    no_text: "文件里没有可读的文字",
    bad_encoding: "文件不是 UTF-8 或 GB18030 编码的文字",
    payload_too_large: "文件太大",
    conflict: "已有同名文档，请先删除它",
    unauthorized: "管理员令牌不正确",
    writes_disabled: "服务器没有开启文档管理（未设置 QA_ADMIN_TOKEN）",
    not_found: "文档已不存在",
    corpus_unavailable: "文档所在的文件夹暂时不可用"
  };

  function token() {
    try { return window.sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
  }

  function setToken(value) {
    try {
      if (value) window.sessionStorage.setItem(TOKEN_KEY, value);
      else window.sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* storage disabled: the token lasts as long as the page */ }
    render();
  }

  function reason(status, data) {
    var err = data && data.error;
    var code = err && err.code;
    if (code === "unauthorized") setToken("");
    var zh = REASONS[code];
    if (zh) return zh + (err.message ? "（" + err.message + "）" : "");
    return QA.errorMessage(status, data);
  }

  function parse(raw) {
    try { return raw ? JSON.parse(raw) : null; } catch (e) { return null; }
  }

  // ---------------------------------------------------------------- upload

  function uploadOne(file) {
    var bar = el("progress", { max: 100, value: 0, "aria-label": "上传进度：" + file.name });
    var status = el("span", { class: "upload-status" }, "正在上传…");
    var row = el("li", { class: "upload-item", "data-state": "sending" }, [
      el("span", { class: "upload-name" }, file.name), bar, status
    ]);
    $("upload-list").append(row);
    var done = function (state, text) {
      row.setAttribute("data-state", state);
      status.textContent = text;
      bar.hidden = true;
      QA.announce(file.name + "：" + text);
    };
    var body = new FormData();
    body.append("file", file, file.name);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/documents");
    xhr.setRequestHeader("Authorization", "Bearer " + token());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (ev) {
      if (ev.lengthComputable) bar.value = Math.round(ev.loaded / ev.total * 100);
      if (ev.loaded === ev.total) status.textContent = "正在建立索引…";
    });
    xhr.addEventListener("load", function () {
      var data = parse(xhr.responseText);
      if (xhr.status === 201 && data && data.document) {
        var doc = data.document;
        done("indexed", "已加入索引：" + (doc.title || doc.id) + "（" + (doc.articles || 0) + " 篇文章）");
        if (window.QALibrary) window.QALibrary.reload();
      } else {
        done("rejected", "未加入：" + reason(xhr.status, data));
      }
    });
    xhr.addEventListener("error", function () { done("rejected", "未加入：网络错误"); });
    xhr.send(body);
  }

  function uploadAll(files) {
    if (!token()) return;
    Array.prototype.forEach.call(files || [], uploadOne);
  }

  // ---------------------------------------------------------------- delete

  function deleteButton(doc) {
    return el("button", {
      type: "button",
      class: "link-btn danger doc-delete",
      "aria-label": "删除文档：" + (doc.title || doc.id),
      onclick: function () {
        if (!window.confirm("确定要删除《" + (doc.title || doc.id) + "》吗？删除后它不再出现在回答里。")) return;
        fetch("/api/documents/" + encodeURIComponent(doc.id), {
          method: "DELETE",
          headers: { "Authorization": "Bearer " + token(), "Accept": "application/json" }
        }).then(function (resp) {
          return resp.text().then(function (raw) {
            if (!resp.ok) throw { shown: reason(resp.status, parse(raw)) };
            QA.forgetDocument(doc.id);
            QA.announce("已删除：" + (doc.title || doc.id));
            if (window.QALibrary) window.QALibrary.reload();
          });
        }).catch(function (err) {
          QA.announce("删除失败：" + (err && err.shown ? err.shown : "网络错误"));
          window.alert("删除失败：" + (err && err.shown ? err.shown : "网络错误"));
        });
      }
    }, "删除");
  }

  // ---------------------------------------------------------------- panel

  function render() {
    var has = Boolean(token());
    $("upload-login").hidden = has;
    $("upload-area").hidden = !has;
    if (window.QALibrary && $("library").open) window.QALibrary.reload(); // delete buttons come and go
  }

  function init() {
    var input = $("upload-token");
    var signIn = function () {
      var value = input.value.trim();
      input.value = "";
      if (value) setToken(value);
      if (value) $("upload-pick").focus();
    };
    $("upload-token-ok").addEventListener("click", signIn);
    input.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") { ev.preventDefault(); signIn(); }
    });
    $("upload-logout").addEventListener("click", function () { setToken(""); });
    var files = $("upload-files");
    $("upload-pick").addEventListener("click", function () { files.click(); });
    files.addEventListener("change", function () { uploadAll(files.files); files.value = ""; });
    var zone = $("upload-drop");
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (ev) { ev.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (type) {
      zone.addEventListener(type, function () { zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (ev) {
      ev.preventDefault();
      uploadAll(ev.dataTransfer && ev.dataTransfer.files);
    });
    window.QAUploads = { canDelete: function () { return Boolean(token()); }, deleteButton: deleteButton };
    render();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
