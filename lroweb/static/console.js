// lroweb console: live updates (server-sent events), confirmations, times,
// JSON colouring. Everything from an operation goes into the page through
// textContent, never as HTML.
"use strict";

(function () {
  var $ = function (root, sel) { return root.querySelector(sel); };
  var field = function (name) { return document.querySelector('[data-field="' + name + '"]'); };

  // --- times -------------------------------------------------------------
  function ago(ms) {
    var s = Math.round(ms / 1000);
    var future = s < 0;
    s = Math.abs(s);
    var out;
    if (s < 45) out = s + "s";
    else if (s < 45 * 60) out = Math.round(s / 60) + " min";
    else if (s < 36 * 3600) out = Math.round(s / 3600) + " h";
    else out = Math.round(s / 86400) + " d";
    return future ? "in " + out : out + " ago";
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function local(d) {
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }
  function renderTime(el) {
    var d = new Date(el.getAttribute("datetime"));
    if (isNaN(d)) return;
    el.title = d.toString();
    if (el.hasAttribute("data-relative")) {
      el.textContent = ago(Date.now() - d.getTime());
      return;
    }
    el.textContent = local(d);
    var span = el.nextElementSibling;
    if (!span || !span.classList.contains("ago")) {
      span = document.createElement("span");
      span.className = "ago";
      el.after(span);
    }
    span.textContent = ago(Date.now() - d.getTime());
  }
  function renderTimes() { document.querySelectorAll("time[datetime]").forEach(renderTime); }

  // --- JSON colouring ------------------------------------------------------
  var token = /("(?:[^"\\]|\\.)*")(\s*:)?|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(true|false)|(null)/g;
  function colourJSON(pre, text) {
    pre.textContent = "";
    var last = 0, m;
    token.lastIndex = 0;
    while ((m = token.exec(text)) !== null) {
      if (m.index > last) pre.append(text.slice(last, m.index));
      var span = document.createElement("span");
      span.className = m[1] ? (m[2] ? "k" : "s") : m[3] ? "n" : m[4] ? "b" : "z";
      span.textContent = m[1] || m[0];
      pre.append(span);
      if (m[2]) pre.append(m[2]);
      last = token.lastIndex;
    }
    pre.append(text.slice(last));
  }
  function colourAll() {
    document.querySelectorAll("pre.json").forEach(function (pre) {
      var t = pre.textContent;
      if (t.charAt(0) === "{" || t.charAt(0) === "[") colourJSON(pre, t);
    });
  }

  // --- live updates ----------------------------------------------------------
  function setLive(state, text) {
    var el = document.getElementById("live");
    if (!el) return;
    el.hidden = false;
    el.className = "live-indicator " + state;
    el.textContent = text;
  }

  function setJSON(name, text) {
    var pre = field(name);
    if (!pre) return;
    if (text) colourJSON(pre, text); else pre.textContent = "none";
  }

  function renderTimeList(times) {
    var dl = field("times");
    dl.textContent = "";
    (times || []).forEach(function (t) {
      var dt = document.createElement("dt");
      dt.textContent = t.label;
      var dd = document.createElement("dd");
      if (t.iso) {
        var tm = document.createElement("time");
        tm.setAttribute("datetime", t.iso);
        tm.textContent = t.text;
        dd.append(tm);
        renderTime(tm);
      } else {
        dd.textContent = t.text;
      }
      dl.append(dt, dd);
    });
    field("no-times").hidden = (times || []).length > 0;
  }

  function apply(v) {
    var badge = field("state");
    badge.className = "badge badge-" + v.state;
    badge.textContent = v.state;
    field("progress-card").hidden = !v.hasProgress;
    if (v.hasProgress) {
      field("progress").value = v.progress;
      field("progress").className = "bar-" + v.state;
      field("progress-text").textContent = v.progressText;
    }
    setJSON("metadata", v.metadata);
    renderTimeList(v.times);
    field("result-card").hidden = !v.resultKind;
    field("result-title").textContent = v.resultKind === "error" ? "Error" : "Response";
    field("error-line").hidden = !v.errorCode;
    field("error-code").textContent = v.errorCode;
    field("error-message").textContent = v.errorMessage;
    setJSON("result", v.result);
    field("done").textContent = String(v.done);
    field("cancel").hidden = v.done;
    var op = document.getElementById("op");
    op.dataset.done = String(v.done);
    op.dataset.updates = String(Number(op.dataset.updates || 0) + 1);
  }

  function follow() {
    var op = document.getElementById("op");
    if (!op || !window.EventSource) return;
    if (op.dataset.done === "true") { setLive("done", "done"); return; }
    var es = new EventSource(op.dataset.events);
    es.addEventListener("open", function () { setLive("live", "live"); });
    es.addEventListener("error", function () {
      if (es.readyState === EventSource.CLOSED) setLive("offline", "offline");
      else setLive("reconnecting", "reconnecting");
    });
    es.addEventListener("op", function (e) {
      var v = JSON.parse(e.data);
      apply(v);
      if (v.done) { es.close(); setLive("done", "done"); }
    });
    es.addEventListener("fail", function (e) {
      var f = JSON.parse(e.data);
      es.close();
      setLive("offline", f.code === "NOT_FOUND" ? "deleted" : f.code);
    });
    window.addEventListener("pagehide", function () { es.close(); });
  }

  // --- confirmations -----------------------------------------------------------
  function confirmAndSubmit(form) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "confirm";
    input.value = "yes";
    form.append(input);
    form.submit(); // submit() fires no submit event: no second question
  }

  function wireConfirmations() {
    var dialog = document.getElementById("confirm-dialog");
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        if (!dialog || !dialog.showModal) {
          if (window.confirm(form.dataset.question + "\n\n" + form.dataset.warning)) confirmAndSubmit(form);
          return;
        }
        $(dialog, '[data-field="confirm-question"]').textContent = form.dataset.question;
        $(dialog, '[data-field="confirm-warning"]').textContent = form.dataset.warning;
        $(dialog, '[data-field="confirm-yes"]').textContent = form.dataset.verb + " operation";
        dialog.returnValue = "";
        dialog.addEventListener("close", function () {
          if (dialog.returnValue === "yes") confirmAndSubmit(form);
        }, { once: true });
        dialog.showModal();
      });
    });
  }

  function wireCopy() {
    document.querySelectorAll("[data-copy]").forEach(function (b) {
      b.addEventListener("click", function () {
        if (!navigator.clipboard) return;
        navigator.clipboard.writeText(b.dataset.copy).then(function () {
          var was = b.textContent;
          b.textContent = "Copied";
          setTimeout(function () { b.textContent = was; }, 1200);
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    renderTimes();
    setInterval(renderTimes, 30000);
    colourAll();
    wireConfirmations();
    wireCopy();
    follow();
  });
})();
