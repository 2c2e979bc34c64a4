// Feed preview: time travel, account filter and (when served) live reload.
// State lives in the address fragment, e.g. #at=2027-11-06T17:30:00Z&off=kerensky,lenin
(function () {
  "use strict";

  var live = document.body.getAttribute("data-live");
  if (live !== null && window.EventSource) {
    var source = new EventSource("/events?v=" + encodeURIComponent(live));
    source.addEventListener("reload", function () {
      source.close();
      location.reload();
    });
  }

  var controls = document.getElementById("controls");
  var stepsScript = document.getElementById("replay-steps");
  if (!controls || !stepsScript) return;

  var steps = JSON.parse(stepsScript.textContent);
  var times = steps.map(function (step) { return Date.parse(step.instant); });
  var range = document.getElementById("moment");
  var label = document.getElementById("moment-label");
  var count = document.getElementById("shown-count");
  var empty = document.getElementById("empty");
  var boxes = Array.prototype.slice.call(controls.querySelectorAll('input[name="account"]'));
  var entries = Array.prototype.slice.call(document.querySelectorAll("article[data-instant]"));
  var days = Array.prototype.slice.call(document.querySelectorAll("section.day"));
  var instants = entries.map(function (el) { return Date.parse(el.getAttribute("data-instant")); });

  function readState() {
    var params = new URLSearchParams(location.hash.slice(1));
    var off = (params.get("off") || "").split(",");
    boxes.forEach(function (box) { box.checked = off.indexOf(box.value) < 0; });
    var at = params.get("at");
    var index = times.length - 1;
    if (at && at !== "end") {
      var wanted = Date.parse(at);
      index = 0;
      while (index + 1 < times.length && times[index + 1] <= wanted) index++;
    }
    range.max = String(Math.max(times.length - 1, 0));
    range.value = String(Math.max(index, 0));
  }

  function writeState() {
    var index = Number(range.value);
    var params = new URLSearchParams();
    if (index < times.length - 1) params.set("at", steps[index].instant);
    var off = boxes.filter(function (box) { return !box.checked; }).map(function (box) { return box.value; });
    if (off.length) params.set("off", off.join(","));
    var hash = params.toString();
    history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search);
  }

  function update() {
    var step = steps[Number(range.value)];
    var cut = step ? Date.parse(step.instant) : Infinity;
    var on = {};
    boxes.forEach(function (box) { on[box.value] = box.checked; });
    var shown = 0;
    entries.forEach(function (el, i) {
      var visible = instants[i] <= cut && on[el.getAttribute("data-account")] === true;
      el.hidden = !visible;
      if (visible) shown++;
    });
    days.forEach(function (day) {
      day.hidden = !day.querySelector("article[data-instant]:not([hidden])");
    });
    var text = step ? step.label : "";
    label.textContent = text;
    range.setAttribute("aria-valuetext", text);
    count.textContent = shown + " of " + entries.length + " shown";
    empty.hidden = shown > 0;
  }

  readState();
  controls.hidden = false;
  update();
  controls.addEventListener("submit", function (event) { event.preventDefault(); });
  range.addEventListener("input", function () { update(); writeState(); });
  boxes.forEach(function (box) {
    box.addEventListener("change", function () { update(); writeState(); });
  });
  window.addEventListener("hashchange", function () { readState(); update(); });
})();
