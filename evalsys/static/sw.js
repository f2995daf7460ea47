// evalsys's service worker (served as /sw.js by evalsys/feedback/offline.py, which fills in
// the version and the app shell). Small on purpose:
// - the app shell (styles, scripts, icons) is cached when the worker installs;
// - the pages a user's form names (their new forms on the current rubrics, their
//   assignments) are fetched into a cache of that user's own when the form asks, and the
//   cache is refreshed each time such a page is opened with network;
// - every request goes to the network first; the cache answers only when there is none;
// - nothing else is kept: no record, list or report page, nothing another user saw;
// - a new version drops the old caches; another user's form, or logging out, drops the pages.
// Visits filled offline are not the worker's: the form keeps them (static/form.js).
"use strict";

var VERSION = "__VERSION__";
var SHELL = "__SHELL__";
var SHELL_CACHE = "evalsys-shell-" + VERSION;
var PAGES_PREFIX = "evalsys-pages-";

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(SHELL_CACHE).then(function (cache) {
      return cache.addAll(SHELL);
    }).then(function () {
      return self.skipWaiting();
    })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) {
        return name.indexOf("evalsys-shell-") === 0 && name !== SHELL_CACHE;
      }).map(function (name) {
        return caches.delete(name);
      }));
    }).then(function () {
      return self.clients.claim();
    })
  );
});

// The user whose pages are kept is the name of the one pages cache (the worker's memory
// does not last: the browser stops an idle worker).
function pagesCacheName() {
  return caches.keys().then(function (names) {
    return names.filter(function (name) {
      return name.indexOf(PAGES_PREFIX) === 0;
    })[0] || null;
  });
}

function dropPagesExcept(keep) {
  return caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf(PAGES_PREFIX) === 0 && name !== keep;
    }).map(function (name) {
      return caches.delete(name);
    }));
  });
}

// A page is kept only as fetched for its user, never a redirect (to the login page).
function usable(response) {
  return response && response.ok && !response.redirected && response.type === "basic";
}

self.addEventListener("message", function (event) {
  var data = event.data || {};
  if (data.type === "keep" && data.user) {
    var name = PAGES_PREFIX + String(data.user);
    event.waitUntil(dropPagesExcept(name).then(function () {
      return caches.open(name);
    }).then(function (cache) {
      return Promise.all((data.pages || []).map(function (path) {
        return fetch(path, { credentials: "same-origin" }).then(function (response) {
          return usable(response) ? cache.put(path, response) : undefined;
        }).catch(function () {
          return undefined;
        });
      }));
    }));
  } else if (data.type === "forget") {
    event.waitUntil(dropPagesExcept(null));
  }
});

// Refresh a kept page with what the network just gave (pages not kept stay uncached).
function refresh(path, response) {
  return pagesCacheName().then(function (name) {
    if (!name || !usable(response)) {
      return undefined;
    }
    return caches.open(name).then(function (cache) {
      return cache.match(path).then(function (old) {
        return old ? cache.put(path, response) : undefined;
      });
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) {
    return;
  }
  var isShell = SHELL.indexOf(url.pathname) !== -1;
  var isPage = request.mode === "navigate";
  if (!isShell && !isPage) {
    return;
  }
  event.respondWith(
    fetch(request).then(function (response) {
      if (isPage && url.search === "") {
        event.waitUntil(refresh(url.pathname, response.clone()));
      }
      return response;
    }).catch(function () {
      // No network: the kept copy (a page opened with a query, e.g. from an assignment's
      // link, falls back to the same page without it).
      return caches.match(isShell ? request : url.pathname, { ignoreSearch: true, ignoreVary: true }).then(function (hit) {
        return hit || Response.error();
      });
    })
  );
});
