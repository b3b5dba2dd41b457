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

  // Submit filter selects on change; without JavaScript the form has a
  // button.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
    sel.addEventListener("change", function () { sel.form.submit(); });
  });
})();
