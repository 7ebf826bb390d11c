// dodo_billing dashboard behaviour: copy buttons, the column chooser, confirmations, and charts
// drawn from JSON embedded in the page. No framework beyond Bootstrap, htmx and Chart.js.
(function () {
  "use strict";

  // Copy buttons: <button class="copy-button" data-copy="text">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var text = button.getAttribute("data-copy");
    var done = function () {
      var icon = button.querySelector("i");
      if (icon) {
        icon.className = "bi bi-clipboard-check";
        setTimeout(function () { icon.className = "bi bi-clipboard"; }, 1500);
      }
      button.setAttribute("data-copied", "true");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, done);
    } else {
      var area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      try { document.execCommand("copy"); } catch (e) { /* nothing to do */ }
      document.body.removeChild(area);
      done();
    }
  });

  // Column chooser: move a row up or down; checked rows keep their order when the form posts.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-column-chooser] [data-move]");
    if (!button) return;
    var item = button.closest("li");
    if (button.getAttribute("data-move") === "up" && item.previousElementSibling) {
      item.parentNode.insertBefore(item, item.previousElementSibling);
    } else if (button.getAttribute("data-move") === "down" && item.nextElementSibling) {
      item.parentNode.insertBefore(item.nextElementSibling, item);
    }
    button.focus();
  });

  // Forms and buttons with data-confirm="message" ask before they submit.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  }, true);

  // Disable submit buttons once a form is sent, so a double click cannot send it twice (the
  // server is idempotent anyway: forms that move money carry an idempotency key).
  document.addEventListener("submit", function (event) {
    if (event.defaultPrevented) return;
    var form = event.target;
    if (form.method.toLowerCase() !== "post") return;
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    }, 0);
  });

  // Charts: <canvas data-chart="id-of-a-json-script"> where the JSON is a Chart.js config.
  function drawCharts(root) {
    if (!window.Chart) return;
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataset.drawn) return;
      var source = document.getElementById(canvas.getAttribute("data-chart"));
      if (!source) return;
      canvas.dataset.drawn = "1";
      new window.Chart(canvas, JSON.parse(source.textContent));
    });
  }
  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.addEventListener("htmx:afterSwap", function (event) { drawCharts(event.target); });
  window.dodoDrawCharts = drawCharts;

  // A select with data-autosubmit submits its form when changed (rows per page).
  document.addEventListener("change", function (event) {
    if (event.target.matches("select[data-autosubmit]") && event.target.form) event.target.form.submit();
  });

  // Bootstrap tooltips for [data-bs-toggle=tooltip], also in table blocks that htmx swaps in.
  function enableTooltips(root) {
    if (!window.bootstrap) return;
    root.querySelectorAll('[data-bs-toggle="tooltip"]').forEach(function (el) {
      window.bootstrap.Tooltip.getOrCreateInstance(el);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { enableTooltips(document); });
  document.addEventListener("htmx:afterSwap", function (event) { enableTooltips(event.target); });

  // The refund dialog: filled in from the data-* attributes of the button that opened it.
  document.addEventListener("show.bs.modal", function (event) {
    if (event.target.id !== "refund-modal" || !event.relatedTarget) return;
    var data = event.relatedTarget.dataset;
    var form = event.target.querySelector("[data-refund-form]");
    form.action = data.refundUrl;
    form.reset();
    form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = false; });
    var fields = {
      "payment-id": data.paymentId,
      "currency": data.currency,
      "refundable": data.refundable,
      "refundable-gateway": data.refundableGateway
    };
    Object.keys(fields).forEach(function (name) {
      form.querySelectorAll('[data-refund-field="' + name + '"]').forEach(function (el) {
        el.textContent = fields[name];
      });
    });
  });
  document.addEventListener("shown.bs.modal", function (event) {
    if (event.target.id === "refund-modal") event.target.querySelector("#refund-amount").focus();
  });

  // Portal: the active tab of the scrolling navigation is in view on narrow screens.
  document.addEventListener("DOMContentLoaded", function () {
    var active = document.querySelector(".portal-nav .active");
    if (active) active.scrollIntoView({inline: "center", block: "nearest"});
  });
})();
