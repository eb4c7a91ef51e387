// kflow dashboard: keeps the page's live regions current without reloading the page.
// The server pushes, as server-sent events, which objects changed; a region ([data-live])
// one of whose topics changed is fetched again (its URL plus fragment=live) and swapped in
// when its version differs. A region with data-poll (seconds) is also fetched that often
// (a running run's log). Fetches never pile up: changes during a fetch cause one more.
"use strict";

(function () {
  const connection = document.getElementById("connection");
  const RELATIVE_TIMES_SECONDS = 30;

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

  function showNewestOutput(element) {
    element.querySelectorAll("pre.logs").forEach(function (pre) {
      pre.scrollTop = pre.scrollHeight;
    });
  }

  function liveRegion(element) {
    const region = {
      element: element,
      topics: (element.dataset.topics || "").split(" ").filter(Boolean),
      inFlight: false,
      again: false,
    };
    region.refresh = async function () {
      if (region.inFlight) {
        region.again = true;
        return;
      }
      region.inFlight = true;
      try {
        do {
          region.again = false;
          const url = new URL(element.dataset.live, window.location.href);
          if (url.origin !== window.location.origin) {
            return; // only this server's own fragments are ever swapped in
          }
          url.searchParams.set("fragment", "live");
          const response = await fetch(url, { cache: "no-store", credentials: "same-origin" });
          const body = await response.text();
          const version = response.headers.get("X-Live-Version") || "";
          if (version !== element.dataset.version) {
            element.innerHTML = body; // unchanged content is left alone: no flicker, no lost clicks
            element.dataset.version = version;
            element.dataset.swaps = String(Number(element.dataset.swaps || "0") + 1);
            showNewestOutput(element);
          }
        } while (region.again);
      } catch (error) {
        showConnection("offline", "offline");
      } finally {
        region.inFlight = false;
      }
    };
    const poll = Number(element.dataset.poll || "0");
    if (poll > 0) {
      window.setInterval(region.refresh, poll * 1000);
    }
    return region;
  }

  showNewestOutput(document);
  const regions = Array.from(document.querySelectorAll("[data-live]")).map(liveRegion);
  if (regions.length === 0 || !window.EventSource) {
    showConnection("static", "not live");
    return;
  }
  const source = new EventSource("/events");
  source.addEventListener("hello", function () {
    showConnection("live", "live");
    regions.forEach(function (region) { region.refresh(); }); // catch up after (re)connecting
  });
  source.onmessage = function (event) {
    const changes = JSON.parse(event.data);
    regions.forEach(function (region) {
      if (changes.some(function (change) { return concerns(region.topics, change); })) {
        region.refresh();
      }
    });
  };
  source.onerror = function () {
    showConnection("reconnecting", "reconnecting…");
  };
  window.setInterval(function () {
    if (document.visibilityState === "visible") {
      regions.forEach(function (region) { region.refresh(); });
    }
  }, RELATIVE_TIMES_SECONDS * 1000);
})();
