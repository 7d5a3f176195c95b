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

// Date pickers show the date in the browser's own format (often mm/dd/yyyy): repeat it the way the pages show it.
document.addEventListener("change", function (event) {
  var input = event.target;
  var echo = input.getAttribute && document.getElementById(input.getAttribute("data-date-echo") || "");
  if (!echo) return;
  var months = (echo.getAttribute("data-months") || "").split(",");
  var parts = /^(\d{4})-(\d{2})-(\d{2})$/.exec(input.value);
  echo.textContent = "";
  if (!parts) return;
  var strong = document.createElement("strong");
  strong.textContent = parseInt(parts[3], 10) + " " + months[parseInt(parts[2], 10) - 1] + " " + parts[1];
  echo.appendChild(document.createTextNode(echo.getAttribute("data-prefix") + " "));
  echo.appendChild(strong);
});
