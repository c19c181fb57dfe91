// smimed's own script: opens and closes the dialogs. Loaded from a file so
// that the Content-Security-Policy can forbid inline scripts.
"use strict";
document.addEventListener("click", (event) => {
  // A link that asks first (the download of a key in clear).
  const asking = event.target.closest("a[data-confirm]");
  if (asking && !window.confirm(asking.dataset.confirm)) {
    event.preventDefault();
    return;
  }
  const opener = event.target.closest("[data-open]");
  if (opener) {
    const dialog = document.getElementById(opener.dataset.open);
    if (dialog) {
      dialog.showModal();
    }
    return;
  }
  const closer = event.target.closest("[data-close]");
  if (closer) {
    const dialog = closer.closest("dialog");
    if (dialog) {
      dialog.close();
    }
  }
});
// After a successful import (2xx: the page's htmx config swaps 4xx answers
// too, so htmx calls them successful), empty the form so a second file
// starts clean; after a refusal, everything typed or chosen stays for the
// next try. The result stays visible either way.
document.addEventListener("htmx:afterRequest", (event) => {
  const form = event.detail.elt;
  const status = event.detail.xhr ? event.detail.xhr.status : 0;
  if (status >= 200 && status < 300 && form.matches && form.matches("dialog form")) {
    for (const field of form.querySelectorAll("textarea, input[type=file], input[type=password]")) {
      field.value = "";
    }
  }
});
// The composer's switches: a click records the agent's own choice in the
// hidden `<id>_choice` input, so that the options fragment, re-fetched
// whenever the group or the recipients change, renders the switch as the
// agent set it rather than from the group default. Capture phase: the
// choice is recorded before htmx (listening on the switch) re-fetches.
document.addEventListener("change", (event) => {
  const toggle = event.target;
  if (toggle.matches && toggle.matches("input[type=checkbox][data-choice]")) {
    const choice = document.getElementById(toggle.dataset.choice);
    if (choice) {
      choice.value = toggle.checked ? "on" : "off";
    }
  }
}, true);
// "Create message" with a switch that is on but not possible makes nothing:
// the reason is shown instead (the server refuses such a form as well).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.matches || !form.matches("#compose-form")) {
    return;
  }
  const blocked = document.getElementById("compose-blocked");
  const reasons = [...form.querySelectorAll("input[data-choice][data-possible=false]:checked")]
    .map((toggle) => {
      const hint = document.getElementById(toggle.id + "-hint");
      return hint ? hint.textContent.trim() : toggle.title;
    });
  if (reasons.length > 0) {
    event.preventDefault();
    if (blocked) {
      blocked.textContent = "No message was created. " + reasons.join(" ");
      blocked.hidden = false;
      blocked.focus();
    }
  } else if (blocked) {
    blocked.hidden = true;
  }
});
