// Page behaviour kept out of the HTML, so the Content-Security-Policy needs no inline scripts.
document.addEventListener("DOMContentLoaded", function () {
  // A form that came back with errors: move focus to the list of problems (screen readers read it).
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }
});
