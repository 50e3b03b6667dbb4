// Live progress of the operation pages: polls /ops.json every second and
// updates the state, progress bar and step of every row that names an
// operation (data-op), hiding the stop button once it ended. A page whose
// operation just ended is reloaded once, to show the report.
(function () {
  "use strict";
  var rows = document.querySelectorAll("[data-op]");
  if (!rows.length) { return; }
  var single = document.getElementById("op") !== null;
  function update() {
    fetch("/ops.json", { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (!r.ok) { throw new Error(r.status); }
      return r.json();
    }).then(function (ops) {
      var byId = {};
      ops.forEach(function (o) { byId[o.id] = o; });
      var reload = false;
      rows.forEach(function (row) {
        var o = byId[row.getAttribute("data-op")];
        if (!o) { return; }
        var st = row.querySelector(".state");
        if (st && st.textContent !== o.state) {
          if (single && !o.stopable) { reload = true; }
          st.textContent = o.state;
        }
        var p = row.querySelector("progress");
        if (p) {
          if (o.percent >= 0) { p.value = o.percent; } else { p.removeAttribute("value"); }
        }
        var step = row.querySelector(".step");
        if (step) { step.textContent = o.items + (o.items_total ? " / " + o.items_total : "") + " " + (o.step || ""); }
        if (!o.stopable) {
          var f = row.querySelector("form.stop");
          if (f) { f.remove(); }
        }
      });
      if (reload) { window.location.reload(); return; }
      setTimeout(update, 1000);
    }).catch(function () { setTimeout(update, 5000); });
  }
  setTimeout(update, 1000);
})();
