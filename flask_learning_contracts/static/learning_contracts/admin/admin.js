// "Copy" buttons: copy the text of the element named by data-copy and say so in words.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var source = document.querySelector(button.getAttribute("data-copy"));
  var status = document.getElementById("copy-status");
  var text = source ? source.textContent.trim() : "";
  function done(ok) { if (status) status.textContent = ok ? button.getAttribute("data-copied") || "Copied" : ""; }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
  } else {
    var area = document.createElement("textarea");
    area.value = text; document.body.appendChild(area); area.select();
    try { done(document.execCommand("copy")); } finally { document.body.removeChild(area); }
  }
});
