// Page behaviour kept out of the HTML, so the Content-Security-Policy needs no inline scripts.
document.addEventListener("DOMContentLoaded", function () {
  // A form that came back with errors: move focus to the list of problems (screen readers read it).
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }

  // A search box above a list of checkboxes narrows it to the options whose text holds
  // what was typed (checked options always stay shown).
  document.querySelectorAll("input[data-filters]").forEach(function (box) {
    var list = document.getElementById(box.getAttribute("data-filters"));
    if (!list) {
      return;
    }
    box.addEventListener("input", function () {
      var wanted = box.value.trim().toLowerCase();
      list.querySelectorAll("label").forEach(function (label) {
        var input = label.querySelector("input");
        var shown = !wanted || (input && input.checked) ||
          label.textContent.toLowerCase().indexOf(wanted) !== -1;
        label.hidden = !shown;
      });
    });
  });

  // Device copies of the feedback form (form.js): the server says which one it has now
  // stored (the evalsys_stored cookie: user.kind.key.id), and logging out forgets them all
  // and the pages kept for offline use (the outbox of unsent visits stays: it is the
  // user's own, shown to nobody else, and sent when they sign in again).
  var stored = /(?:^|; )evalsys_stored=([^;]*)/.exec(document.cookie);
  if (stored) {
    document.cookie = "evalsys_stored=; Max-Age=0; Path=/; SameSite=Lax";
    try {
      var parts = decodeURIComponent(stored[1]).split(".");
      var base = "evalsys.form." + parts[0] + "." + parts[1] + ".";
      var copy = JSON.parse(window.localStorage.getItem(base + "new") || "null");
      if (copy && (!parts[2] || copy.key === parts[2])) {
        window.localStorage.removeItem(base + "new");
      }
      window.localStorage.removeItem(base + "r" + parts[3]);
    } catch (err) {
      // no storage (private mode): nothing was kept
    }
  }
  document.querySelectorAll("form[action$='/logout']").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.cleared) {
        return;
      }
      try {
        Object.keys(window.localStorage).forEach(function (name) {
          if (name.indexOf("evalsys.form.") === 0 || name === "evalsys.kept") {
            window.localStorage.removeItem(name);
          }
        });
      } catch (err) {
        // no storage: nothing kept
      }
      if (!window.caches) {
        return; // plain HTTP: no service worker, no kept pages
      }
      event.preventDefault();
      window.caches.keys().then(function (names) {
        return Promise.all(names.filter(function (name) {
          return name.indexOf("evalsys-pages-") === 0;
        }).map(function (name) {
          return window.caches.delete(name);
        }));
      }).catch(function () {}).then(function () {
        form.dataset.cleared = "true";
        form.requestSubmit(event.submitter);
      });
    });
  });

  // Forms and buttons that change something for good ask first (data-confirm: the question).
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var by = event.submitter;
      var question = (by && by.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
      if (question && !window.confirm(question)) {
        event.preventDefault();
      }
    });
  });
});

// --- The header's menu (templates/base.html; h-nav) -------------------------------------
// A drop-down of the menu (the phone's "Menu", the desktop's "My units" / "Administration")
// closes with Escape and gives the focus back to its button. Without this script the
// <details> still opens and closes by click, Enter and Space.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("header details.dropdown").forEach(function (menu) {
    menu.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && menu.open) {
        menu.open = false;
        menu.querySelector("summary").focus();
      }
    });
  });
});
