// The pages' own script (no library): countdowns, forms answered at once, answers that arrive
// live. It never sees a token: the session is an HttpOnly cookie; EventSource and fetch go to
// this origin, which calls the services.
"use strict";

function countdowns() {
  const nodes = document.querySelectorAll("[data-countdown]");
  if (!nodes.length) return;
  const tick = () => {
    for (const node of nodes) {
      const left = Math.max(0, Math.round((Date.parse(node.dataset.countdown) - Date.now()) / 1000));
      const h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
      node.textContent = left === 0 ? "now" : `in ${h ? h + " h " : ""}${m} min ${s} s`;
    }
  };
  tick();
  setInterval(tick, 1000);
}

const pending = new Map(); // request id -> section id
// Outcomes that came before the reply to their own request (a worker can decide, and the
// stream deliver, before the browser has read the 202): held by request id until it is read.
const early = new Map();
const EARLY_KEPT = 50;

function say(sectionId, text) {
  const status = document.querySelector(`[data-status-for="${sectionId}"]`);
  if (status) status.textContent = text;
  const log = document.querySelector("[data-outcome-log]");
  if (log) log.textContent = text;
}

function describe(outcome) {
  if (outcome.event_type && outcome.event_type.includes("waitlist.promoted")) {
    return outcome.message || "A seat opened: you moved from the waitlist to Enrolled.";
  }
  if (outcome.status === "accepted") {
    const verb = outcome.verb || "Enrolled";
    if (outcome.action === "drop") return "Dropped.";
    return verb === "Waitlisted" ? "You are on the waitlist." : `Done: ${verb}.`;
  }
  return outcome.message || `Not possible: ${outcome.reason}.`;
}

function requestForms(room) {
  // The catalog is one form around every button; the schedule, a form per button. Either way
  // the button pressed says what is asked ("enroll 12"), and its section shows the answer.
  for (const form of document.querySelectorAll("form[data-request]")) {
    // A browser without event.submitter (Safari before 15.4) still says which button by the
    // click (a key press on a button clicks it too); knowing none, the page posts the form.
    let clicked = null;
    form.addEventListener("click", (event) => {
      clicked = event.target.closest("button[name=do]");
    });
    form.addEventListener("submit", async (event) => {
      const button = event.submitter || clicked;
      clicked = null;
      if (!button || button.name !== "do") return;
      event.preventDefault();
      const sectionId = button.dataset.section;
      const body = new FormData(form);
      body.set("do", button.value);
      button.disabled = true;
      say(sectionId, "Sending…");
      try {
        const answer = await fetch(form.getAttribute("action"), {
          method: "POST",
          body,
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
        const reply = await answer.json();
        if (answer.status === 202) {
          pending.set(reply.id, sectionId);
          if (reply.status === "waiting") {
            say(sectionId, `Your request is in. At ${room.label} the waiting requests are released in a random order; you keep your place whatever you do now.`);
          } else {
            say(sectionId, "Queued: the answer appears here in a moment.");
          }
          const came = early.get(reply.id);
          if (came) {
            early.delete(reply.id);
            settle(came.outcome, came.anchor);
          }
        } else {
          say(sectionId, reply.error || "The request was not sent; try again.");
          button.disabled = false;
        }
      } catch (error) {
        say(sectionId, "The connection failed; try again.");
        button.disabled = false;
      }
    });
  }
}

function settle(outcome, anchor) {
  // An outcome of this page's request (or a promotion): said beside its section, then the
  // page follows the new schedule.
  const sectionId = pending.get(outcome.id) || outcome.section_id;
  say(sectionId, describe(outcome));
  if (outcome.verb === "Waitlisted" && anchor.dataset.requestsUrl) {
    fetch(anchor.dataset.requestsUrl + outcome.id, { headers: { Accept: "application/json" } })
      .then((r) => r.json())
      .then((r) => { if (r.position) say(sectionId, `You are on the waitlist: number ${r.position}.`); });
  }
  pending.delete(outcome.id);
  if (outcome.status === "accepted" || outcome.event_type.includes("promoted")) {
    setTimeout(() => window.location.reload(), 2500); // the buttons follow the new schedule
  } else {
    const button = document.querySelector(`button[data-section="${sectionId}"]:disabled`);
    if (button) button.disabled = false;
  }
}

function liveOutcomes(anchor) {
  const source = new EventSource("/live/outcomes");
  source.addEventListener("outcome", (event) => {
    const outcome = JSON.parse(event.data);
    if (pending.has(outcome.id) || outcome.event_type.includes("promoted")) {
      settle(outcome, anchor);
    } else if (outcome.id) {
      // Perhaps this page's own request, its reply not read yet; an older outcome (the
      // stream replays the student's recent ones) is simply never asked for.
      early.set(outcome.id, { outcome, anchor });
      if (early.size > EARLY_KEPT) early.delete(early.keys().next().value);
    }
  });
  if (anchor.dataset.seatsUrl) {
    const seats = new EventSource(anchor.dataset.seatsUrl);
    seats.addEventListener("seats", (event) => {
      const sections = JSON.parse(event.data);
      for (const [id, section] of Object.entries(sections)) {
        const node = document.querySelector(`[data-seats-for="${id}"]`);
        if (node && node.textContent !== String(section.left)) node.textContent = section.left;
      }
    });
  }
}

function board(node) {
  const source = new EventSource(node.dataset.board);
  source.addEventListener("board", (event) => {
    const data = JSON.parse(event.data);
    node.querySelector("[data-board-rate]").textContent = data.decisions_per_s;
    const room = data.waiting_room || {};
    node.querySelector("[data-board-room]").textContent = room.releases_at
      ? `${room.waiting_students} students (${room.waiting_requests} requests) waiting; released ${room.released_at ? "at " + room.released_at : "at " + room.releases_at}.`
      : "No fair opening.";
    const rows = (data.queues || []).map((q) => `<tr><td>${q.partition}</td><td>${q.depth}</td><td>${q.oldest_s}</td></tr>`);
    node.querySelector("[data-board-queues]").innerHTML = rows.join("") || "<tr><td colspan=3>No queue.</td></tr>";
    const reasons = Object.entries(data.rejections || {}).map(([r, n]) => `<li>${r}: ${n}</li>`);
    node.querySelector("[data-board-rejections]").innerHTML = reasons.join("") || "<li>None yet.</li>";
    const fullest = (data.fullest || []).map((s) => `<tr><td>${s.section_id}</td><td>${s.left}</td></tr>`);
    node.querySelector("[data-board-fullest]").innerHTML = fullest.join("");
  });
}

document.addEventListener("DOMContentLoaded", () => {
  countdowns();
  const anchor = document.querySelector("[data-live-outcomes]");
  if (anchor) {
    requestForms({ label: anchor.dataset.releasesLabel || "the opening" });
    liveOutcomes(anchor);
  }
  const boardNode = document.querySelector("[data-board]");
  if (boardNode) board(boardNode);
});
