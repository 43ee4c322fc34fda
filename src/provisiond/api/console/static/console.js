// provisiond console: the few live parts, on top of pages that work without this file.
// - [data-poll]: re-fetch the element's fragment (every second while a cycle runs, else every 5 s),
//   and derive the cycle's rate and time left from successive progress observations;
// - [data-dialog]: open the named <dialog> instead of following the link;
// - [data-search]: fill the input's <datalist> as the user types (search as you type);
// - [data-enter]: Enter in the input presses the named button.
(function () {
  "use strict";

  function formatSeconds(s) {
    if (!isFinite(s) || s < 0) return "";
    if (s < 60) return Math.round(s) + " s";
    const m = Math.floor(s / 60);
    return m + " min " + Math.round(s - 60 * m) + " s";
  }

  function describeRate(section, samples) {
    const bar = section.querySelector("#progress[data-observed]");
    const out = section.querySelector(".rate");
    if (!bar || !out) { samples.length = 0; return; }
    const sample = { done: Number(bar.dataset.completed), total: Number(bar.dataset.total), at: Number(bar.dataset.observed) };
    const last = samples[samples.length - 1];
    if (!last || last.at !== sample.at) samples.push(sample);
    while (samples.length > 20) samples.shift();
    const first = samples[0];
    if (samples.length < 2 || sample.at <= first.at || sample.done <= first.done) return;
    const rate = (sample.done - first.done) / (sample.at - first.at);
    let text = rate.toFixed(rate < 10 ? 1 : 0) + " objects/s";
    if (sample.total > sample.done) text += ", about " + formatSeconds((sample.total - sample.done) / rate) + " left";
    out.textContent = text;
  }

  function poll(section) {
    const samples = [];
    const url = section.dataset.poll;
    async function tick() {
      let running = false;
      try {
        const answer = await fetch(url, { headers: { "Accept": "text/html" }, credentials: "same-origin" });
        if (answer.status === 401) { window.location = "/console/signin"; return; }
        if (answer.ok) {
          section.innerHTML = await answer.text();
          const root = section.querySelector(".live-root");
          running = root && root.dataset.running === "yes";
          const badge = document.getElementById("state-badge");
          const state = section.querySelector("#live-state");
          if (badge && state) { badge.textContent = state.textContent; badge.className = state.className; }
          describeRate(section, samples);
        }
      } catch (e) { /* the next tick tries again */ }
      window.setTimeout(tick, running ? 1000 : 5000);
    }
    const root = section.querySelector(".live-root");
    window.setTimeout(tick, root && root.dataset.running === "yes" ? 1000 : 5000);
  }

  function dialogs() {
    document.querySelectorAll("[data-dialog]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        const dialog = document.getElementById(link.dataset.dialog);
        if (dialog && dialog.showModal) { event.preventDefault(); dialog.showModal(); }
      });
    });
  }

  function searches() {
    document.querySelectorAll("input[data-search]").forEach(function (input) {
      const list = document.getElementById(input.getAttribute("list"));
      let timer = null;
      let seq = 0;
      input.addEventListener("input", function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(async function () {
          const mine = ++seq;
          const kind = document.querySelector("input[name=kind]:checked");
          const params = new URLSearchParams({ q: input.value, kind: kind ? kind.value : "user" });
          const answer = await fetch(input.dataset.search + "?" + params, { credentials: "same-origin" });
          if (!answer.ok || mine !== seq) return;
          const found = await answer.json();
          list.replaceChildren.apply(list, found.map(function (item) {
            const option = document.createElement("option");
            option.value = item.value;
            option.textContent = item.label;
            return option;
          }));
        }, 150);
      });
    });
  }

  // Enter in an input[data-enter] presses the named button (not the form's first one).
  function enterPresses() {
    document.querySelectorAll("input[data-enter]").forEach(function (input) {
      input.addEventListener("keydown", function (event) {
        const button = document.getElementById(input.dataset.enter);
        if (event.key === "Enter" && button) { event.preventDefault(); button.click(); }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll]").forEach(poll);
    dialogs();
    searches();
    enterPresses();
  });
})();
