// Tapioca admin dashboard: small conveniences on top of pages that work
// without JavaScript. Nothing here is needed to use the dashboard.
(function () {
  "use strict";

  // Copy buttons next to one-time secrets (generated passwords).
  document.querySelectorAll("[data-copy]").forEach(function (btn) {
    btn.hidden = false;
    btn.addEventListener("click", function () {
      var text = btn.getAttribute("data-copy");
      if (!navigator.clipboard) return;
      navigator.clipboard.writeText(text).then(function () {
        var label = btn.textContent;
        btn.textContent = "Copied";
        setTimeout(function () { btn.textContent = label; }, 1500);
      });
    });
  });

  // Dismissible flash messages.
  document.querySelectorAll(".flash .close").forEach(function (btn) {
    btn.hidden = false;
    btn.addEventListener("click", function () {
      btn.closest(".flash").remove();
    });
  });

  // Submit filters (selects, checkboxes) on change; without JavaScript
  // the form has a button.
  document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });

  // Close the phone menu with Escape, back on its button.
  document.querySelectorAll("details.nav-menu").forEach(function (menu) {
    menu.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && menu.open) {
        menu.open = false;
        menu.querySelector("summary").focus();
      }
    });
  });
})();
