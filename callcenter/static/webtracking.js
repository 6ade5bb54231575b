/* Web call tracking snippet (docs/webtracking.md). The clinic's site pastes:
 *   <script src="https://SERVICE/static/webtracking.js" data-pool="POOL_KEY" async></script>
 * optional: data-ym-counter="12345678" (Metrica counter, for its ClientID), data-timeout="2000".
 * It reads the visit, asks the service for a number, swaps the clinic's number on the page (text
 * and tel: links, in the page's own format) and renews the lease while the page is open. If the
 * service does not answer in time the page keeps its own number. It keeps a random visitor id
 * and the visit's tags in localStorage; no cookie of its own. */
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || !me.getAttribute("data-pool")) { return; }
  var key = me.getAttribute("data-pool");
  var base = me.getAttribute("data-endpoint") || new URL(me.src).origin;
  var timeout = Number(me.getAttribute("data-timeout") || 2000);
  var ymCounter = me.getAttribute("data-ym-counter");
  var VISIT_IDLE_MS = 30 * 60 * 1000;
  var UTM = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];
  var CLICKS = ["gclid", "gbraid", "wbraid", "yclid"];
  var shown = null;

  function storage() {
    try { return window.localStorage; } catch (e) { return null; }
  }
  function load(name) {
    var s = storage();
    try { return s ? JSON.parse(s.getItem(name) || "null") : null; } catch (e) { return null; }
  }
  function save(name, value) {
    var s = storage();
    try { if (s) { s.setItem(name, JSON.stringify(value)); } } catch (e) { /* private mode */ }
  }
  function cookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }
  function randomId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var a = new Uint8Array(16);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function cut(value, most) { return value ? String(value).slice(0, most) : ""; }

  /* The visit: a new one when the URL carries tags or a click id, the visitor came from another
   * site, or the last one has been idle 30 minutes; else the stored one (a later page of it). */
  function readVisit() {
    var q = new URLSearchParams(location.search);
    var stored = load("cc_wt_visit:" + key);
    var tagged = UTM.concat(CLICKS).some(function (n) { return q.get(n); });
    var external = document.referrer && new URL(document.referrer).host !== location.host;
    var now = Date.now();
    if (stored && !tagged && !external && now - stored.seen < VISIT_IDLE_MS) {
      stored.seen = now;
      return stored;
    }
    var visit = {seen: now, id: null, utm: {}, click_ids: {}, analytics_ids: {},
                 referrer: cut(document.referrer, 500), landing_url: cut(location.href, 500)};
    UTM.forEach(function (n) { visit.utm[n] = cut(q.get(n), 200); });
    CLICKS.forEach(function (n) { visit.click_ids[n] = cut(q.get(n), 200); });
    return visit;
  }

  function analyticsIds(visit, done) {
    var ga = cookie("_ga").split(".");
    visit.analytics_ids.ga_client_id = ga.length >= 4 ? cut(ga.slice(-2).join("."), 64) : "";
    visit.analytics_ids.ym_client_id = cut(cookie("_ym_uid"), 64);
    if (!ymCounter || typeof window.ym !== "function") { done(); return; }
    var finished = false;
    var finish = function () { if (!finished) { finished = true; done(); } };
    setTimeout(finish, 300);
    try {
      window.ym(Number(ymCounter), "getClientID", function (id) {
        if (id) { visit.analytics_ids.ym_client_id = cut(id, 64); }
        finish();
      });
    } catch (e) { finish(); }
  }

  function digits(text) { return String(text).replace(/\D/g, ""); }

  /* Rewrite the last `count` digits of `text` with those of `number`, keeping its format. */
  function reformat(text, number, count) {
    var fresh = digits(number).slice(-count).split("");
    var out = text.split("");
    for (var i = out.length - 1; i >= 0 && fresh.length; i--) {
      if (/\d/.test(out[i])) { out[i] = fresh.pop(); }
    }
    return out.join("");
  }

  function swap(from, to, count) {
    var tail = digits(from).slice(-count);
    var pattern = /\+?\d[\d\s().\u2011\u2013-]{5,}\d/g;
    var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    var node;
    while ((node = walker.nextNode())) {
      var parent = node.parentNode && node.parentNode.nodeName;
      if (parent === "SCRIPT" || parent === "STYLE" || parent === "TEXTAREA") { continue; }
      var text = node.nodeValue;
      var changed = text.replace(pattern, function (match) {
        return digits(match).slice(-count) === tail ? reformat(match, to, count) : match;
      });
      if (changed !== text) { node.nodeValue = changed; }
    }
    var links = document.querySelectorAll('a[href^="tel:"]');
    for (var i = 0; i < links.length; i++) {
      if (digits(links[i].getAttribute("href")).slice(-count) === tail) {
        links[i].setAttribute("href", "tel:" + to);
      }
    }
  }

  function ask(visit, visitor) {
    var controller = window.AbortController ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, timeout) : null;
    var body = {visitor: visitor, visit: visit.id, utm: visit.utm, click_ids: visit.click_ids,
                analytics_ids: visit.analytics_ids, referrer: visit.referrer,
                landing_url: visit.landing_url};
    /* text/plain keeps it a "simple" CORS request: no preflight round trip before the number. */
    return fetch(base + "/wt/" + encodeURIComponent(key) + "/number", {
      method: "POST", mode: "cors", credentials: "omit", body: JSON.stringify(body),
      headers: {"Content-Type": "text/plain"}, signal: controller ? controller.signal : undefined
    }).then(function (response) {
      if (timer) { clearTimeout(timer); }
      if (!response.ok) { throw new Error("number request: " + response.status); }
      return response.json();
    });
  }

  function run(visit, visitor) {
    ask(visit, visitor).then(function (answer) {
      var from = shown || answer.original;
      if (from && answer.number && digits(from) !== digits(answer.number)) {
        swap(from, answer.number, answer.national_digits || 10);
      }
      shown = answer.number;
      document.documentElement.setAttribute("data-cc-number", answer.number);
      visit.id = answer.visit;
      save("cc_wt_visit:" + key, visit);
      if (answer.renew_seconds > 0) {
        setTimeout(function () { run(visit, visitor); }, answer.renew_seconds * 1000);
      }
    }).catch(function () {
      /* No answer in time, or refused: the page keeps the number it shows. */
      document.documentElement.setAttribute("data-cc-number", shown || "original");
    });
  }

  var visitor = load("cc_wt_visitor");
  if (typeof visitor !== "string") { visitor = randomId(); save("cc_wt_visitor", visitor); }
  var visit = readVisit();
  save("cc_wt_visit:" + key, visit);
  var start = function () { analyticsIds(visit, function () { run(visit, visitor); }); };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
