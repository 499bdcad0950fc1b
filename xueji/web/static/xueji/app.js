/*
 * xueji page behaviour. Every hook is a data attribute; no inline scripts or handlers,
 * so the pages run under a strict Content-Security-Policy.
 *
 *   data-confirm="text"            ask before submitting (on a form or its submit button) or
 *                                  before following a link
 *   data-disable-on-submit         disable the form's buttons once it is submitted (no double posts)
 *   data-enable-when="#checkbox"   keep this button disabled until the checkbox is ticked
 *   data-focus-on-load             focus this element when it appears (after an htmx swap too)
 *   data-print                     print the page
 */
(function () {
  "use strict";

  function each(root, selector, fn) {
    if (!root || !root.querySelectorAll) return;
    if (root.matches && root.matches(selector)) fn(root);
    root.querySelectorAll(selector).forEach(fn);
  }

  function bindEnableWhen(root) {
    each(root, "[data-enable-when]", function (button) {
      var box = document.querySelector(button.getAttribute("data-enable-when"));
      if (!box) return;
      var sync = function () { button.disabled = !box.checked; };
      box.addEventListener("change", sync);
      sync();
    });
  }

  function focusFirst(root) {
    var target = null;
    each(root, "[data-focus-on-load]", function (el) { if (!target) target = el; });
    if (!target) {
      // After a server round trip with errors, go to the first field that needs fixing.
      each(root, ".is-invalid", function (el) { if (!target) target = el; });
    }
    if (target) {
      if (!target.hasAttribute("tabindex") && !/^(INPUT|SELECT|TEXTAREA|BUTTON|A)$/.test(target.tagName)) {
        target.setAttribute("tabindex", "-1");
      }
      target.focus({ preventScroll: false });
    }
  }

  function setUp(root) {
    bindEnableWhen(root);
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var submitter = event.submitter;
    var question = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    if (form.hasAttribute("data-disable-on-submit")) {
      // Deferred: the clicked button's name/value must still go with the submission.
      window.setTimeout(function () {
        form.querySelectorAll("button[type=submit], input[type=submit]").forEach(function (b) {
          b.disabled = true;
        });
      }, 0);
    }
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-confirm]");
    if (link && !window.confirm(link.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
    if (event.target.closest("[data-print]")) {
      event.preventDefault();
      window.print();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    setUp(document);
    focusFirst(document.getElementById("main"));
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    setUp(event.detail.elt);
  });

  // Polling fragments must not steal focus every second; only swaps the user asked for do.
  document.addEventListener("htmx:afterSettle", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.closest && elt.closest("[data-poll]")) return;
    focusFirst(elt);
  });

  // The server could not be reached: say so instead of failing silently. The message is
  // translated by the template (data-msg-offline on <body>).
  document.addEventListener("htmx:sendError", function () {
    window.alert(document.body.getAttribute("data-msg-offline") || "Network error");
  });
})();
