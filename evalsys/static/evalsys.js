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
