/* What the /verify page's and the member console's message tables share: the languages, the default, the
 * messages of the frame's language switch (page.html), and t(), which looks a message up and fills in its
 * {name} placeholders. Each page's *-i18n.js publishes its table with XinlianI18n.publish, which adds the
 * frame's messages; under Node.js (the unit tests) this file is require()d instead. */
"use strict";
(function (root) {
  const LANGS = ["zh-CN", "en"];
  const DEFAULT = "zh-CN";
  // The language switch of page.html: the same on every page, so written once here.
  const FRAME = {
    "zh-CN": { "lang.name": "中文", "lang.label": "语言" },
    en: { "lang.name": "English", "lang.label": "Language" },
  };
  // A page's own table with the frame's messages in front (a page's own key wins), language by language.
  function withFrame(messages) {
    const all = {};
    for (const lang of Object.keys(messages)) all[lang] = { ...FRAME[lang], ...messages[lang] };
    return all;
  }
  function messageTable(messages) {
    // The message of `key` in `lang` with {name} replaced from `params`; a missing key shows as the key itself.
    function t(lang, key, params) {
      const table = messages[lang] || messages[DEFAULT];
      const text = key in table ? table[key] : key;
      return text.replace(/\{(\w+)\}/g, (m, name) => (params && name in params ? String(params[name]) : m));
    }
    return { messages, LANGS, DEFAULT, t };
  }
  // Makes `messages` a page's table: the global `name`, and under Node.js also the exports of `mod`.
  function publish(name, messages, mod) {
    const api = messageTable(withFrame(messages));
    if (mod && mod.exports) mod.exports = api;
    root[name] = api;
  }
  const api = { LANGS, DEFAULT, messageTable, publish };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  root.XinlianI18n = api;
})(typeof globalThis !== "undefined" ? globalThis : this);
