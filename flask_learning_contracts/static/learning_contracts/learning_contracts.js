/* flask-learning-contracts: progressive enhancement only (every page works without JavaScript). */
(function () {
  "use strict";
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "absolute";
      area.style.left = "-9999px";
      document.body.appendChild(area);
      area.select();
      try { document.execCommand("copy") ? resolve() : reject(); } catch (e) { reject(e); }
      document.body.removeChild(area);
    });
  }
  document.querySelectorAll("[data-lc-copy]").forEach(function (button) {
    var source = document.querySelector(button.getAttribute("data-lc-copy"));
    if (!source) { return; }
    var status = button.parentNode.querySelector(".lc-copy-status");
    button.hidden = false;
    button.addEventListener("click", function () {
      copyText(source.textContent.trim()).then(function () {
        if (status) { status.textContent = button.getAttribute("data-lc-copied") || "Copied"; }
      }, function () {
        var range = document.createRange();
        range.selectNodeContents(source);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        if (status) { status.textContent = button.getAttribute("data-lc-select") || "Selected: press Ctrl+C to copy"; }
      });
    });
  });
}());
