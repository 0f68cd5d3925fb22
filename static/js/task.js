// Judgment form behaviour for templates/annotate/task.html: keyboard
// shortcuts (choices, submit, skip, instructions, last answer), the
// time-on-task field and a guard against double submits.
// Loaded as a file because the pages are meant to run under a strict CSP.
(function () {
  "use strict";

  var form = document.getElementById("judgment-form");
  if (!form) {
    return;
  }
  var startedAt = performance.now();
  var timeField = form.querySelector('input[name="time_on_task"]');
  var submitButton = form.querySelector('button[type="submit"]');
  var skipPanel = document.getElementById("skip-task");
  var skipForm = document.getElementById("skip-form");
  var instructions = document.getElementById("instructions");
  var lastAnswerLink = document.getElementById("last-answer-link");

  function firstUnansweredCriterion() {
    var fieldsets = form.querySelectorAll("fieldset.criterion");
    for (var i = 0; i < fieldsets.length; i++) {
      if (!fieldsets[i].querySelector('input[type="radio"]:checked')) {
        return fieldsets[i];
      }
    }
    return null;
  }

  // A digit answers the first criterion still without an answer. Once every
  // criterion has one, as when changing the last judgment, it changes the
  // answer of the criterion holding the focus, or else of the first one.
  function criterionForDigit() {
    var open = firstUnansweredCriterion();
    if (open) {
      return open;
    }
    var focused = document.activeElement ? document.activeElement.closest("fieldset.criterion") : null;
    return focused || form.querySelector("fieldset.criterion");
  }

  // Pairwise: keys 1 to 4 pick the radios in page order (A, B, tie, both bad).
  // Rating: a digit picks the radio whose value is that score.
  function radioForKey(fieldset, key) {
    var radios = Array.prototype.slice.call(fieldset.querySelectorAll('input[type="radio"]'));
    if (fieldset.dataset.kind === "choice") {
      var index = Number(key) - 1;
      return index >= 0 && index < radios.length ? radios[index] : null;
    }
    for (var i = 0; i < radios.length; i++) {
      if (radios[i].value === key) {
        return radios[i];
      }
    }
    return null;
  }

  function isTextEntry(element) {
    if (element instanceof HTMLTextAreaElement || element instanceof HTMLSelectElement) {
      return true;
    }
    return element instanceof HTMLInputElement && element.type !== "radio" && element.type !== "checkbox";
  }

  function openSkipPanel() {
    skipPanel.open = true;
    var reason = skipPanel.querySelector('input[type="radio"]:checked') || skipPanel.querySelector('input[type="radio"]');
    if (reason) {
      reason.focus();
    }
    skipPanel.scrollIntoView({ block: "nearest" });
  }

  // Inside the skip form the keys belong to it: arrow keys move between
  // reasons, Ctrl+Enter skips and Esc closes the box.
  function handleSkipPanelKey(event) {
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      skipForm.requestSubmit();
    } else if (event.key === "Escape") {
      event.preventDefault();
      skipPanel.open = false;
      skipPanel.querySelector("summary").focus();
    }
  }

  function toggleInstructions() {
    instructions.open = !instructions.open;
    if (instructions.open) {
      instructions.scrollIntoView({ block: "nearest" });
    }
  }

  // Returns true when `key` was one of the letter shortcuts the page lists.
  function handleLetterKey(key) {
    var letter = key.toLowerCase();
    if (letter === "s" && skipPanel && skipForm) {
      openSkipPanel();
      return true;
    }
    if (letter === "i" && instructions) {
      toggleInstructions();
      return true;
    }
    if (letter === "z" && lastAnswerLink) {
      lastAnswerLink.click();
      return true;
    }
    return false;
  }

  document.addEventListener("keydown", function (event) {
    if (skipForm && skipForm.contains(event.target)) {
      handleSkipPanelKey(event);
      return;
    }
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      form.requestSubmit();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || isTextEntry(event.target)) {
      return;
    }
    if (event.key.length === 1 && handleLetterKey(event.key)) {
      event.preventDefault();
      return;
    }
    if (!/^[0-9]$/.test(event.key)) {
      return;
    }
    var fieldset = criterionForDigit();
    var radio = fieldset ? radioForKey(fieldset, event.key) : null;
    if (!radio) {
      return;
    }
    event.preventDefault();
    radio.checked = true;
    radio.dispatchEvent(new Event("change", { bubbles: true }));
    var next = firstUnansweredCriterion() || submitButton;
    if (next) {
      next.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  });

  form.addEventListener("submit", function (event) {
    if (form.dataset.submitting) {
      event.preventDefault();
      return;
    }
    form.dataset.submitting = "true";
    if (timeField) {
      timeField.value = ((performance.now() - startedAt) / 1000).toFixed(1);
    }
    if (submitButton) {
      submitButton.disabled = true;
    }
  });

  // A page restored from the back-forward cache keeps the guard set; clear it
  // so the annotator can submit again.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      delete form.dataset.submitting;
      if (submitButton) {
        submitButton.disabled = false;
      }
    }
  });
})();
