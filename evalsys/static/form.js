// The feedback form's behaviour (templates/feedback/form.html): a running total of the
// scores, a copy of what is typed kept on this device, autosave to a server draft, and
// visits filled offline kept in an outbox and sent when the network is back.
// The form's data-* attributes say who and what it is, and carry the messages in the
// reader's language. Loaded only by the form page; docs/feedback.md explains it all.
(function () {
  "use strict";
  var form = document.getElementById("feedback-form");
  if (!form) {
    return;
  }
  var d = form.dataset;
  var SKIP = { csrf_token: true, save_draft: true, send: true, idempotency_key: true };
  var PREFIX = "evalsys.form." + d.user + "." + d.kind + ".";
  var SLOT = PREFIX + (d.record ? "r" + d.record : "new");
  var OUTBOX = "evalsys.outbox." + d.user;
  var keyField = form.querySelector("input[name=idempotency_key]");
  var DELAY = 1000 * (Number(d.autosaveDelay) || 20);

  function fill(template, values) {
    return (template || "").replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : whole;
    });
  }
  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }
  function hhmm(ms) {
    var t = new Date(ms);
    return pad(t.getHours()) + ":" + pad(t.getMinutes());
  }
  function read(name) {
    try {
      return JSON.parse(window.localStorage.getItem(name) || "null");
    } catch (err) {
      return null;
    }
  }
  function write(name, value) {
    try {
      window.localStorage.setItem(name, JSON.stringify(value));
    } catch (err) {
      // Storage full or refused (private mode): the form still works, without the copy.
    }
  }
  function forget(name) {
    try {
      window.localStorage.removeItem(name);
    } catch (err) {
      // nothing kept, nothing to forget
    }
  }
  function freshKey() {
    if (window.crypto && window.crypto.randomUUID) {
      return window.crypto.randomUUID().replace(/-/g, "");
    }
    return Date.now().toString(16) + Math.random().toString(16).slice(2);
  }

  // --- the running total -------------------------------------------------------------
  // The same figure the server stores (evalsys/feedback/checks.py compute_overall_score):
  // each answered item on 0..1 by its scale, weighted mean, times 100; shown with one
  // decimal rounded half to even, as the record page formats it (Babel).
  var groups = Array.prototype.slice.call(form.querySelectorAll("fieldset[data-score]"));
  var totalBox = document.getElementById("running-total");
  var totalText = document.getElementById("running-total-text");
  var totalLive = document.getElementById("running-total-live");
  var announceTimer = null;

  function scoreOf(group) {
    var checked = group.querySelector("input[type=radio]:checked");
    var box = group.querySelector("input[type=number]");
    var text = (checked ? checked.value : box ? box.value : "").trim();
    if (text === "") {
      return null;
    }
    var value = Number(text);
    return isFinite(value) ? value : null;
  }

  function oneDecimal(x) {
    var s = String(x);
    if (/e/i.test(s)) {
      return x.toFixed(1);
    }
    var negative = s.charAt(0) === "-";
    if (negative) {
      s = s.slice(1);
    }
    var parts = s.split(".");
    var whole = parts[0];
    var frac = parts[1] || "";
    var tenths = Number(whole) * 10 + Number(frac.charAt(0) || "0");
    var rest = frac.slice(1);
    if (rest !== "") {
      var half = rest === "5";
      if ((half && tenths % 2 === 1) || (!half && rest.charAt(0) >= "5")) {
        tenths += 1;
      }
    }
    var out = Math.floor(tenths / 10) + "." + (tenths % 10);
    return (negative && tenths !== 0 ? "-" : "") + out;
  }

  function plain(x) {
    return String(Math.round(x * 100) / 100);
  }

  function computeTotal() {
    var sum = 0;
    var answered = 0;
    var weighted = 0;
    var weights = 0;
    groups.forEach(function (group) {
      var low = Number(group.dataset.min);
      var high = Number(group.dataset.max);
      var weight = Number(group.dataset.weight);
      var value = scoreOf(group);
      if (value === null || value < low || value > high || high <= low) {
        return;
      }
      sum += value;
      answered += 1;
      weighted += weight * (value - low) / (high - low);
      weights += weight;
    });
    if (weights === 0) {
      return null;
    }
    return {
      sum: plain(sum),
      answered: String(answered),
      items: String(groups.length),
      score: oneDecimal(Math.min(100, Math.max(0, (100 * weighted) / weights)))
    };
  }

  function showTotal() {
    if (!totalBox || groups.length === 0) {
      return;
    }
    totalBox.hidden = false;
    var total = computeTotal();
    var text = total ? fill(d.msgTotal, total) : d.msgTotalNone;
    totalText.textContent = text;
    totalBox.dataset.score = total ? total.score : "";
    // Screen readers hear the figure once the scoring pauses, not at every tap.
    window.clearTimeout(announceTimer);
    announceTimer = window.setTimeout(function () {
      if (totalLive.textContent !== text) {
        totalLive.textContent = text;
      }
    }, 1500);
  }

  // --- reading and filling the form ---------------------------------------------------
  function snapshot() {
    var out = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || SKIP[el.name] || el.type === "submit" || el.tagName === "BUTTON") {
        return;
      }
      if (el.type === "radio") {
        if (el.checked) {
          out[el.name] = el.value;
        } else if (!(el.name in out)) {
          out[el.name] = "";
        }
      } else {
        out[el.name] = el.value;
      }
    });
    return out;
  }

  function apply(fields) {
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || SKIP[el.name] || !(el.name in fields)) {
        return;
      }
      if (el.type === "radio") {
        el.checked = el.value === fields[el.name];
      } else if (el.type !== "submit" && el.tagName !== "BUTTON") {
        el.value = fields[el.name];
      }
    });
    showTotal();
  }

  function same(a, b) {
    var names = Object.keys(a).concat(Object.keys(b));
    return names.every(function (name) {
      return (a[name] || "") === (b[name] || "");
    });
  }

  // --- what the page says -------------------------------------------------------------
  var note = document.getElementById("device-note");
  var noteText = document.getElementById("device-note-text");
  var undo = document.getElementById("device-undo");
  var status = document.getElementById("autosave-status");
  var problems = document.getElementById("sync-problems");

  function say(text, withUndo) {
    if (!note) {
      return;
    }
    note.hidden = false;
    noteText.textContent = text;
    undo.hidden = !withUndo;
  }
  function quietly(text) {
    if (status) {
      status.textContent = text;
    }
  }
  function showProblems(title, list) {
    if (!problems) {
      return;
    }
    problems.hidden = false;
    document.getElementById("sync-problems-title").textContent = title;
    var ul = document.getElementById("sync-problems-list");
    ul.textContent = "";
    (list || []).forEach(function (text) {
      var li = document.createElement("li");
      li.textContent = text;
      ul.appendChild(li);
    });
    problems.focus();
  }

  // --- the device copy ----------------------------------------------------------------
  var fromServer = snapshot();
  var serverKey = keyField ? keyField.value : "";
  if (d.mode === "new" && d.posted !== "true" && keyField) {
    // A page from the offline cache carries the key of an earlier visit: every fresh form
    // gets its own (a copy restored below brings back the key it was typed under).
    keyField.value = freshKey();
    serverKey = keyField.value;
  }

  function keep() {
    write(SLOT, {
      fields: snapshot(),
      key: keyField ? keyField.value : "",
      record: d.record || "",
      rubric: d.rubric,
      savedAt: Date.now()
    });
  }

  var copy = read(SLOT);
  if (copy && copy.fields && d.posted !== "true") {
    var newer = d.mode === "new" || Number(copy.savedAt) > Number(d.updated || 0);
    if (newer && !same(copy.fields, fromServer)) {
      apply(copy.fields);
      if (keyField && d.mode === "new" && copy.key) {
        keyField.value = copy.key;
      }
      say(fill(d.msgRestored, { time: hhmm(copy.savedAt) }), true);
      if (copy.problems && copy.problems.length) {
        showProblems(d.msgRefused, copy.problems);
      }
    }
  }
  if (undo) {
    undo.addEventListener("click", function () {
      apply(fromServer);
      if (keyField) {
        keyField.value = serverKey;
      }
      forget(SLOT);
      say(d.msgUndone, false);
    });
  }

  // --- autosave to a server draft -----------------------------------------------------
  var saveTimer = null;
  var lastSent = JSON.stringify(snapshot());
  var sending = false;
  var submitting = false;

  function csrf() {
    var field = form.querySelector("input[name=csrf_token]");
    return field ? field.value : "";
  }

  function freshToken() {
    return fetch(d.autosave, { credentials: "same-origin", redirect: "manual", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok || response.redirected) {
          throw new Error("no token");
        }
        return response.json();
      })
      .then(function (body) {
        var field = form.querySelector("input[name=csrf_token]");
        if (field && body.csrf_token) {
          field.value = body.csrf_token;
        }
        return body.csrf_token;
      });
  }

  // POST a form's fields to the autosave endpoint; one retry with a fresh token if the
  // page's token had expired. Resolves with {status, body} (body null when not JSON:
  // an expired session answers with the login page).
  function send(payload, keepalive, retried) {
    return fetch(d.autosave, {
      method: "POST",
      credentials: "same-origin",
      // An expired session answers with a redirect to the login page: not followed, so
      // the login page's "your session ended" stays for the user to see.
      redirect: "manual",
      keepalive: !!keepalive,
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify(payload)
    }).then(function (response) {
      var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
      if (response.status === 400 && !json && !retried) {
        return freshToken().then(function () {
          return send(payload, keepalive, true);
        });
      }
      if (!json || response.redirected) {
        return { status: 0, body: null };
      }
      return response.json().then(function (body) {
        return { status: response.status, body: body };
      });
    });
  }

  function autosave(keepalive) {
    window.clearTimeout(saveTimer);
    saveTimer = null;
    if (d.draft !== "true" || sending || submitting || navigator.onLine === false) {
      return;
    }
    var fields = snapshot();
    var text = JSON.stringify(fields);
    if (text === lastSent) {
      return;
    }
    sending = true;
    var payload = {
      kind: d.kind,
      key: d.record ? null : keyField && keyField.value,
      record: d.record || null,
      rubric: d.rubric,
      fields: fields
    };
    send(payload, keepalive)
      .then(function (result) {
        if (result.status === 200 && result.body) {
          lastSent = text;
          form.dataset.draftId = result.body.id;
          quietly(fill(d.msgDraftSaved, { time: result.body.saved_at }));
        } else {
          quietly(fill(d.msgKept, { time: hhmm(Date.now()) }));
        }
      })
      .catch(function () {
        quietly(fill(d.msgKept, { time: hhmm(Date.now()) }));
      })
      .then(function () {
        sending = false;
      });
  }

  function changed() {
    showTotal();
    keep();
    if (saveTimer === null) {
      saveTimer = window.setTimeout(function () {
        autosave(false);
      }, DELAY);
    }
  }
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      autosave(true);
    }
  });
  window.addEventListener("pagehide", function () {
    autosave(true);
  });

  // --- offline: the outbox ------------------------------------------------------------
  function outbox() {
    return read(OUTBOX) || [];
  }
  function showWaiting() {
    var n = outbox().length;
    if (n > 0) {
      quietly(fill(d.msgWaiting, { num: String(n) }));
    }
  }

  form.addEventListener("submit", function (event) {
    if (event.defaultPrevented) {
      return;
    }
    if (navigator.onLine !== false) {
      // Online: the ordinary POST (the server's answer clears the device copy); no
      // autosave races it as the page goes.
      submitting = true;
      window.clearTimeout(saveTimer);
      return;
    }
    event.preventDefault();
    var by = event.submitter;
    var items = outbox().filter(function (item) {
      return item.key !== keyField.value;
    });
    items.push({
      kind: d.kind,
      key: d.record ? null : keyField.value,
      record: d.record || null,
      rubric: d.rubric,
      fields: snapshot(),
      submit: !(by && by.name === "save_draft"),
      queuedAt: Date.now()
    });
    write(OUTBOX, items);
    forget(SLOT);
    apply(fromServer);
    keyField.value = freshKey();
    lastSent = JSON.stringify(snapshot());
    say(d.msgQueued, false);
    showWaiting();
    window.scrollTo(0, 0);
  });

  var flushing = false;
  function flush() {
    if (flushing || navigator.onLine === false || outbox().length === 0) {
      return;
    }
    flushing = true;
    var item = outbox()[0];
    send({ kind: item.kind, key: item.key, record: item.record, rubric: item.rubric, fields: item.fields, submit: item.submit })
      .then(function (result) {
        if (result.status === 0) {
          throw new Error("not sent"); // signed out, or the server unreachable: keep it
        }
        var rest = outbox().filter(function (other) {
          return other.queuedAt !== item.queuedAt;
        });
        write(OUTBOX, rest);
        if (result.status === 200) {
          say(d.msgSent, false);
          return true;
        }
        // Refused: the visit goes back onto its form, with what was wrong.
        var body = result.body || {};
        var list = (body.errors || []).map(function (e) {
          return e.message;
        });
        if (body.conflict === "rubric") {
          list = [d.msgRubric];
        } else if (body.message) {
          list.push(body.message);
        }
        var slot = "evalsys.form." + d.user + "." + item.kind + "." + (item.record ? "r" + item.record : "new");
        write(slot, { fields: item.fields, key: item.key, record: item.record, rubric: item.rubric, savedAt: item.queuedAt, problems: list });
        if (slot === SLOT) {
          apply(item.fields);
          if (item.key) {
            keyField.value = item.key;
          }
        }
        showProblems(d.msgRefused, list);
        return true;
      })
      .catch(function () {
        return false;
      })
      .then(function (goOn) {
        flushing = false;
        showWaiting();
        if (goOn) {
          flush();
        }
      });
  }

  function offlineNote() {
    if (navigator.onLine === false) {
      say(d.msgOffline, false);
    }
  }
  window.addEventListener("online", function () {
    flush();
  });
  window.addEventListener("offline", offlineNote);

  // --- the service worker: the form, the assignments and the app shell, offline -------
  if ("serviceWorker" in navigator && d.worker) {
    navigator.serviceWorker
      .register(d.worker)
      .then(function () {
        return navigator.serviceWorker.ready;
      })
      .then(function (registration) {
        // Ask the worker to fetch the user's offline pages: when they change, when another
        // user used this device, or hourly (opening a kept page online refreshes it anyway).
        var pages = (d.offlinePages || "").split(" ").filter(Boolean);
        var last = read("evalsys.kept") || {};
        var due = last.user !== d.user || last.pages !== pages.join(" ") ||
          Date.now() - (last.at || 0) > 3600 * 1000;
        if (registration.active && navigator.onLine !== false && due) {
          registration.active.postMessage({ type: "keep", user: d.user, pages: pages });
          write("evalsys.kept", { user: d.user, pages: pages.join(" "), at: Date.now() });
        }
      })
      .catch(function () {
        // No service worker (plain HTTP off localhost): the form works, without offline pages.
      });
  }

  showTotal();
  offlineNote();
  showWaiting();
  flush();
})();
