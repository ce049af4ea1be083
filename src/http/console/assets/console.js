// Eryxon Sync console: the only script. On the events page it follows new events: every few
// seconds it asks the server for the rows of events newer than the newest shown and puts them
// on top. Everything else in the console works without script.
"use strict";

(function () {
  const table = document.getElementById("events");
  if (!table || !table.dataset.after) {
    return;
  }
  const body = table.tBodies[0];
  const follow = document.getElementById("follow");
  const status = document.getElementById("live-status");
  const empty = document.getElementById("no-events");
  const every = 2000;

  async function poll() {
    if (follow && !follow.checked) {
      return;
    }
    const url = table.dataset.source + "&after=" + encodeURIComponent(table.dataset.after);
    const response = await fetch(url, { credentials: "same-origin", redirect: "manual" });
    if (response.type === "opaqueredirect" || response.status === 401) {
      // The session ended: show the sign-in form.
      window.location.assign("/console/sign-in");
      return;
    }
    if (!response.ok) {
      status.textContent = "Could not fetch new events (" + response.status + "); retrying.";
      return;
    }
    const next = response.headers.get("x-after");
    const html = await response.text();
    if (html.trim() !== "") {
      const template = document.createElement("template");
      template.innerHTML = html;
      const rows = template.content.querySelectorAll("tr");
      for (const row of rows) {
        row.classList.add("new");
      }
      body.prepend(template.content);
      if (empty) {
        empty.hidden = true;
      }
      status.textContent = rows.length + (rows.length === 1 ? " new event" : " new events");
    }
    if (next) {
      table.dataset.after = next;
    }
  }

  async function loop() {
    try {
      await poll();
    } catch (error) {
      status.textContent = "Lost the server; retrying.";
    }
    window.setTimeout(loop, every);
  }
  window.setTimeout(loop, every);
})();
