// Switchboard's auth widget, for the customer's page:
//
//   <script src="ENGINE/widget/embed.js"></script>
//   Switchboard.mount(element, {
//     engineUrl,            // the engine's base URL (default: where this script came from)
//     token, or getToken,   // a widget token, or a function returning one (or a promise of one)
//     onConnected,          // called with {connector_id, name, connector_type}
//     onError,              // called with {code, message}
//   });
//
// The token is minted by the customer's backend with its application token. It is never put in
// a URL: the iframe is created, and once it says it is ready the token is posted to it, to the
// engine's origin only. Messages from the iframe are taken from the engine's origin only.
(function (global) {
  'use strict';

  var scriptSrc = document.currentScript && document.currentScript.src;

  function originOf(url) {
    return new URL(url, global.location.href).origin;
  }

  function mount(element, options) {
    if (!element || !element.appendChild) throw new Error('Switchboard.mount needs a DOM element');
    var opts = options || {};
    var base = String(opts.engineUrl || (scriptSrc ? new URL('.', scriptSrc).href.replace(/\/widget\/$/, '') : ''));
    if (!base) throw new Error('Switchboard.mount needs engineUrl');
    if (!opts.token && typeof opts.getToken !== 'function') throw new Error('Switchboard.mount needs token or getToken');
    var engineOrigin = originOf(base);
    var src = new URL('/widget', engineOrigin);
    // The embedding page's origin (not a secret): the engine lets only a registered origin frame the page.
    src.searchParams.set('parent', global.location.origin);

    var frame = document.createElement('iframe');
    frame.src = src.href;
    frame.title = opts.title || 'Connect an account';
    frame.setAttribute('referrerpolicy', 'no-referrer');
    frame.style.border = '0';
    frame.style.width = opts.width || '100%';
    frame.style.height = opts.height || '560px';

    // A fresh token from getToken each time the widget asks (it does when one expires).
    function token() {
      if (typeof opts.getToken === 'function') return Promise.resolve(opts.getToken());
      return Promise.resolve(opts.token);
    }
    function send() {
      token().then(function (t) {
        if (typeof t === 'string' && t && frame.contentWindow) {
          frame.contentWindow.postMessage({ type: 'switchboard:token', token: t }, engineOrigin);
        }
      }, function (e) {
        if (typeof opts.onError === 'function') opts.onError({ code: 'token', message: String(e && e.message || e) });
      });
    }

    function onMessage(ev) {
      if (ev.source !== frame.contentWindow || ev.origin !== engineOrigin) return;
      var d = ev.data;
      if (!d || typeof d !== 'object') return;
      if (d.type === 'switchboard:ready') send();
      else if (d.type === 'switchboard:token-expired' && typeof opts.getToken === 'function') send();
      else if (d.type === 'switchboard:connected' && typeof opts.onConnected === 'function') {
        opts.onConnected({ connector_id: d.connector_id, name: d.name, connector_type: d.connector_type });
      } else if (d.type === 'switchboard:error' && typeof opts.onError === 'function') {
        opts.onError({ code: d.code, message: d.message, status: d.status });
      } else if (typeof opts.onEvent === 'function') {
        opts.onEvent(d);
      }
    }
    global.addEventListener('message', onMessage);
    element.appendChild(frame);
    return {
      frame: frame,
      unmount: function () {
        global.removeEventListener('message', onMessage);
        if (frame.parentNode) frame.parentNode.removeChild(frame);
      },
    };
  }

  global.Switchboard = { mount: mount };
})(window);
