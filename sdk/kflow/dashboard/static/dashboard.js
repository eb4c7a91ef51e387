// kflow dashboard: keeps the page's live region current without reloading the page.
// The server pushes, as server-sent events, which objects changed; when one is among the
// region's topics, the region is fetched again (its URL plus fragment=live) and swapped in.
// Fetches never pile up: changes arriving during a fetch cause exactly one more.
"use strict";

(function () {
  const region = document.getElementById("live");
  const connection = document.getElementById("connection");
  const RELATIVE_TIMES_SECONDS = 30;
  let inFlight = false;
  let again = false;

  function showConnection(state, words) {
    if (connection) {
      connection.dataset.state = state;
      connection.textContent = words;
    }
  }

  function concerns(topics, change) {
    return topics.some(function (topic) {
      const colon = topic.indexOf(":");
      const kind = colon < 0 ? topic : topic.slice(0, colon);
      if (kind !== change.kind) {
        return false;
      }
      if (colon < 0 || change.name === "") {
        return true;
      }
      return topic.slice(colon + 1) === change.namespace + "/" + change.name;
    });
  }

  async function refresh() {
    if (!region) {
      return;
    }
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    try {
      do {
        again = false;
        const url = new URL(region.dataset.live, window.location.href);
        url.searchParams.set("fragment", "live");
        const response = await fetch(url, { cache: "no-store", credentials: "same-origin" });
        const body = await response.text();
        const version = response.headers.get("X-Live-Version") || "";
        if (version !== region.dataset.version) {
          region.innerHTML = body; // unchanged content is left alone: no flicker, no lost clicks
          region.dataset.version = version;
          region.dataset.swaps = String(Number(region.dataset.swaps || "0") + 1);
        }
      } while (again);
    } catch (error) {
      showConnection("offline", "offline");
    } finally {
      inFlight = false;
    }
  }

  if (!region || !window.EventSource) {
    showConnection("static", "not live");
    return;
  }
  const topics = (region.dataset.topics || "").split(" ").filter(Boolean);
  const source = new EventSource("/events");
  source.addEventListener("hello", function () {
    showConnection("live", "live");
    refresh(); // catch up on anything that changed while (re)connecting
  });
  source.onmessage = function (event) {
    const changes = JSON.parse(event.data);
    if (changes.some(function (change) { return concerns(topics, change); })) {
      refresh();
    }
  };
  source.onerror = function () {
    showConnection("reconnecting", "reconnecting…");
  };
  window.setInterval(function () {
    if (document.visibilityState === "visible") {
      refresh();
    }
  }, RELATIVE_TIMES_SECONDS * 1000);
})();
