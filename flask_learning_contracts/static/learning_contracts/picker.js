// Search as you type for the pickers (invite people, add a contract admin, the contract to import from).
//
// Progressive enhancement: every picker is a plain GET search form that works without this script. With it, an
// <input data-lc-picker="…" data-lc-source="…json URL…"> becomes an ARIA 1.2 combobox with a listbox popup:
// typing (debounced) fetches ?q=… from the source (JSON {"results": [{value, name, email, note, disabled, url}]}),
// Up/Down move through the options (aria-activedescendant), Enter or a click picks one, Escape closes the list
// (or clears the text when it is closed). What picking does depends on data-lc-picker:
//   "pick"   - adds a ticked checkbox (name data-lc-field, form data-lc-form) to the list data-lc-chosen;
//   "submit" - puts the value in the field data-lc-field of the form data-lc-form and submits that form;
//   "go"     - opens the option's url.
// Every text people read comes from the page (data-lc-*), so it is translated with the rest of the page.
(function () {
  "use strict";
  var DELAY = 250;

  function fill(template, values) {
    return (template || "").replace(/%\((\w+)\)s/g, function (all, key) {
      return values[key] === undefined ? all : String(values[key]);
    });
  }

  function optionText(row) {
    var parts = [row.name || row.value];
    if (row.email && row.email !== row.name) parts.push(row.email);
    if (row.note) parts.push("(" + row.note + ")");
    return parts.join(" ");
  }

  function setUp(input) {
    var mode = input.getAttribute("data-lc-picker");
    var source = input.getAttribute("data-lc-source");
    var min = parseInt(input.getAttribute("data-lc-min") || "1", 10) || 1;
    var status = document.getElementById(input.getAttribute("data-lc-status") || "");
    var listbox = document.createElement("ul");
    var rows = [];
    var active = -1;
    var timer = null;
    var asked = 0;

    listbox.id = input.id + "-listbox";
    listbox.className = "lc-picker-list";
    listbox.setAttribute("role", "listbox");
    listbox.setAttribute("aria-label", input.getAttribute("data-lc-list-label") || "");
    listbox.hidden = true;
    input.parentNode.insertAdjacentElement("afterend", listbox);

    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", listbox.id);
    input.setAttribute("autocomplete", "off");

    function say(text) { if (status) status.textContent = text; }

    function close() {
      listbox.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function highlight(index) {
      var options = listbox.children;
      for (var i = 0; i < options.length; i++) {
        options[i].setAttribute("aria-selected", i === index ? "true" : "false");
        options[i].classList.toggle("lc-picker-active", i === index);
      }
      active = index;
      if (index < 0) { input.removeAttribute("aria-activedescendant"); return; }
      input.setAttribute("aria-activedescendant", options[index].id);
      if (options[index].scrollIntoView) options[index].scrollIntoView({block: "nearest"});
    }

    function show(found) {
      rows = found;
      listbox.textContent = "";
      found.forEach(function (row, index) {
        var option = document.createElement("li");
        option.id = listbox.id + "-" + index;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        if (row.disabled) option.setAttribute("aria-disabled", "true");
        var name = document.createElement("span");
        name.textContent = row.name || row.value;
        option.appendChild(name);
        if ((row.email && row.email !== row.name) || row.note) {
          var more = document.createElement("span");
          more.className = "lc-picker-more";
          more.textContent = " " + optionText(row).slice((row.name || row.value).length + 1);
          option.appendChild(more);
        }
        option.addEventListener("mousedown", function (event) { event.preventDefault(); });
        option.addEventListener("click", function () { pick(index); });
        listbox.appendChild(option);
      });
      if (!found.length) {
        close();
        say(input.getAttribute("data-lc-none") || "");
        return;
      }
      listbox.hidden = false;
      input.setAttribute("aria-expanded", "true");
      highlight(-1);
      say(fill(input.getAttribute("data-lc-some"), {n: found.length}));
    }

    function search() {
      var text = input.value.trim();
      if (text.length < min) { close(); rows = []; say(""); return; }
      var mine = ++asked;
      var url = source + (source.indexOf("?") < 0 ? "?" : "&") + "q=" + encodeURIComponent(text);
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
        .then(function (data) { if (mine === asked) show(data.results || []); })
        .catch(function () { if (mine === asked) { close(); say(""); } });
    }

    function addChecked(row) {
      var field = input.getAttribute("data-lc-field");
      var existing = Array.prototype.filter.call(document.getElementsByName(field), function (box) {
        return box.value === row.value;
      })[0];
      if (existing) {
        var again = existing.checked;
        existing.checked = true;
        say(fill(input.getAttribute(again ? "data-lc-again" : "data-lc-added"), {name: row.name || row.value}));
        return;
      }
      var classes = (input.getAttribute("data-lc-classes") || "|||").split("|");
      var list = document.getElementById(input.getAttribute("data-lc-chosen"));
      var item = document.createElement("li");
      var box = document.createElement("input");
      var label = document.createElement("label");
      var id = "lc-picked-" + (list.children.length + 1) + "-" + Date.now();
      item.className = classes[0];
      box.type = "checkbox";
      box.className = classes[1];
      box.id = id;
      box.name = field;
      box.value = row.value;
      box.checked = true;
      box.setAttribute("form", input.getAttribute("data-lc-form"));
      label.className = classes[2];
      label.htmlFor = id;
      label.textContent = row.name || row.value;
      if (row.email && row.email !== row.name) {
        var email = document.createElement("span");
        email.className = classes[3];
        email.textContent = " " + row.email;
        label.appendChild(email);
      }
      item.appendChild(box);
      item.appendChild(label);
      list.appendChild(item);
      var wrap = list.closest("[hidden]");
      if (wrap) wrap.hidden = false;
      say(fill(input.getAttribute("data-lc-added"), {name: row.name || row.value}));
    }

    function pick(index) {
      var row = rows[index];
      if (!row || row.disabled) return;
      close();
      if (mode === "go" && row.url) { window.location.assign(row.url); return; }
      if (mode === "submit") {
        var form = document.getElementById(input.getAttribute("data-lc-form"));
        form.elements[input.getAttribute("data-lc-field")].value = row.value;
        form.submit();
        return;
      }
      addChecked(row);
      input.value = "";
      rows = [];
      input.focus();
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(search, DELAY);
    });
    input.addEventListener("keydown", function (event) {
      var open = !listbox.hidden;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        if (!rows.length) return;
        event.preventDefault();
        if (!open) { listbox.hidden = false; input.setAttribute("aria-expanded", "true"); }
        var step = event.key === "ArrowDown" ? 1 : -1;
        highlight(active < 0 ? (step > 0 ? 0 : rows.length - 1) : (active + step + rows.length) % rows.length);
      } else if (event.key === "Enter") {
        if (open && active >= 0) { event.preventDefault(); pick(active); }
      } else if (event.key === "Escape") {
        if (open) { event.preventDefault(); close(); }
        else if (input.value) { event.preventDefault(); input.value = ""; rows = []; say(""); }
      }
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
  }

  function start() {
    if (!window.fetch) return;
    Array.prototype.forEach.call(document.querySelectorAll("input[data-lc-picker]"), function (input) {
      if (!input.disabled && !input.hasAttribute("data-lc-ready")) {
        input.setAttribute("data-lc-ready", "");
        setUp(input);
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
}());
