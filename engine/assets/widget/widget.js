// The auth widget, running in an iframe the engine serves. The embedding page posts it a widget
// token; the widget keeps it only when that page's origin is the token's allowed origin (asked of
// the engine), then lists the connector types the token allows, renders each one's credential
// form from its template, creates the connector and reports to the embedding page, posting to
// that origin only. Plain DOM code: no framework, nothing loaded from elsewhere.
(function () {
  'use strict';

  var API = '/api/v1';

  var state = {
    token: null,        // the widget token, once accepted
    origin: null,       // the embedding page's origin (= the token's allowed origin)
    checking: false,    // a token message is being checked
    refused: false,     // the one token message was refused: nothing more is accepted
    templates: [],
    current: null,      // the template being connected
    authIndex: 0,
    popup: null,        // the provider's sign-in window of an OAuth consent under way
    popupType: null,    // the template it connects
  };
  var ids = 0;

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') e.textContent = attrs[k];
      else if (k === 'hidden') e.hidden = !!attrs[k];
      else if (attrs[k] !== undefined && attrs[k] !== null && attrs[k] !== false) e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }
  function setStatus(text) { $('status').textContent = text; }
  function showAlert(text) {
    var a = $('alert');
    a.textContent = text;
    a.hidden = !text;
  }

  // ------------------------------------------------------------------ the embedding page

  /** Posts a message to the embedding page, at its origin only (nothing before it is known). */
  function tell(msg) {
    if (state.origin && window.parent !== window) window.parent.postMessage(msg, state.origin);
  }

  window.addEventListener('message', function (ev) {
    // The engine's OAuth callback page, in the sign-in window this widget opened.
    if (state.popup && ev.source === state.popup && ev.origin === window.location.origin) {
      oauthDone(ev.data);
      return;
    }
    if (ev.source !== window.parent || window.parent === window) return;
    var d = ev.data;
    if (!d || typeof d !== 'object' || d.type !== 'switchboard:token' || typeof d.token !== 'string') return;
    // Before a token is accepted, exactly one token message is considered; afterwards only
    // replacements (a refreshed token) from the same origin.
    if (state.refused || state.checking) return;
    if (state.origin && ev.origin !== state.origin) return;
    state.checking = true;
    accept(d.token, ev.origin).then(function (ok) {
      state.checking = false;
      if (!ok && !state.token) {
        state.refused = true;
        setStatus('This form cannot be used from this page.');
      }
    });
  });

  /** Keeps `token` if its allowed origin is `from` (the posting page's origin). */
  function accept(token, from) {
    return fetch(API + '/embedded/scoped-token/info', {
      headers: { authorization: 'Bearer ' + token },
      credentials: 'omit',
      cache: 'no-store',
    }).then(function (res) {
      return res.ok ? res.json() : null;
    }).then(function (info) {
      if (!info || info.kind !== 'widget' || info.allowed_origin !== from) return false;
      var first = !state.token;
      state.token = token;
      state.origin = from;
      if (first) start();
      return true;
    }, function () { return false; });
  }

  window.addEventListener('DOMContentLoaded', function () {
    $('connect-form').addEventListener('submit', submit);
    $('connect-cancel').addEventListener('click', showCatalog);
    // The embedding page waits for this before it posts the token. It carries nothing.
    if (window.parent !== window) window.parent.postMessage({ type: 'switchboard:ready' }, '*');
  });

  // ------------------------------------------------------------------ engine calls

  /** Calls the engine with the widget token; resolves {status, body}. */
  function call(method, path, body) {
    var init = {
      method: method,
      headers: { authorization: 'Bearer ' + state.token },
      credentials: 'omit',
      cache: 'no-store',
    };
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(API + path, init).then(function (res) {
      return res.text().then(function (text) {
        var parsed = null;
        try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
        if (res.status === 401) tell({ type: 'switchboard:token-expired' });
        return { status: res.status, body: parsed };
      });
    });
  }

  function failure(what, r) {
    var msg = (r.body && r.body.message) || ('the engine answered ' + r.status);
    return what + ': ' + msg;
  }

  function start() {
    setStatus('Loading the services you can connect…');
    Promise.all([call('GET', '/integrations/templates/sources'), loadConnectors()]).then(function (r) {
      var t = r[0];
      if (t.status !== 200) {
        showAlert(failure('Cannot list the services', t));
        tell({ type: 'switchboard:error', code: t.body && t.body.code, message: t.body && t.body.message });
        return;
      }
      state.templates = (t.body && t.body.data) || [];
      renderCatalog();
      showCatalog();
      tell({ type: 'switchboard:loaded', templates: state.templates.map(function (x) { return x.slug; }) });
    }, function () { showAlert('The engine cannot be reached.'); });
  }

  // ------------------------------------------------------------------ catalog

  function renderCatalog() {
    var list = $('templates');
    list.textContent = '';
    state.templates.forEach(function (t) {
      var b = el('button', { type: 'button', 'data-slug': t.slug }, [
        el('img', { src: API + '/integrations/icons/' + encodeURIComponent(t.slug), alt: '' }),
        el('span', { text: t.name }),
      ]);
      b.addEventListener('click', function () { openForm(t); });
      list.appendChild(el('li', {}, [b]));
    });
  }

  function showCatalog() {
    $('connect').hidden = true;
    $('catalog').hidden = false;
    $('connected').hidden = false;
    setStatus(state.templates.length ? 'Choose a service to connect.' : 'No service can be connected here.');
  }

  // ------------------------------------------------------------------ the form

  /** A labelled input with help text and a place for its error. */
  function field(opts) {
    var id = 'f' + (++ids);
    var described = [];
    var kids = [];
    var label = el('label', { for: id, text: opts.label });
    if (opts.required) {
      label.appendChild(el('span', { class: 'req-mark', 'aria-hidden': 'true', text: '*' }));
    }
    kids.push(label);
    if (opts.help) {
      kids.push(el('p', { class: 'help', id: id + '-help', text: opts.help }));
      described.push(id + '-help');
    }
    described.push(id + '-error');
    var input;
    if (opts.kind === 'textarea') {
      input = el('textarea', { rows: '3' });
    } else if (opts.kind === 'select') {
      input = el('select', {}, [el('option', { value: '', text: '' })].concat(opts.options.map(function (o) {
        return el('option', { value: String(o), text: String(o) });
      })));
    } else {
      input = el('input', { type: opts.kind || 'text' });
    }
    input.id = id;
    input.name = opts.path;
    input.setAttribute('data-path', opts.path);
    input.setAttribute('aria-describedby', described.join(' '));
    if (opts.required) {
      input.required = true;
      input.setAttribute('aria-required', 'true');
    }
    if (opts.kind === 'password' || opts.secret) {
      input.setAttribute('autocomplete', 'new-password');
      input.setAttribute('spellcheck', 'false');
    } else {
      input.setAttribute('autocomplete', 'off');
    }
    kids.push(input);
    kids.push(el('p', { class: 'error', id: id + '-error', hidden: true }));
    return el('div', { class: 'field' }, kids);
  }

  /** Whether a template's credential field is masked: the engine's `secret` flag decides (core
   *  sets it from the spec, else from its rule); a template without the flag masks the field. */
  function isSecret(f) { return f.secret !== false; }

  function openForm(t) {
    state.current = t;
    state.authIndex = 0;
    showAlert('');
    $('connect-title').textContent = 'Connect ' + t.name;
    $('connector-name').value = '';
    renderChooser(t);
    renderAuth(t);
    renderConfig(t);
    renderReplication(t);
    $('catalog').hidden = true;
    $('connected').hidden = true;
    $('connect').hidden = false;
    setStatus('Enter the details to connect ' + t.name + '.');
    var first = $('connect').querySelector('input, select, textarea');
    if (first) first.focus();
  }

  /** One radio per auth option when a connector has several. */
  function renderChooser(t) {
    var box = $('auth-chooser');
    box.textContent = '';
    var options = t.auth || [];
    if (options.length < 2) return;
    var fs = el('fieldset', {}, [el('legend', { text: 'How to sign in' })]);
    options.forEach(function (a, i) {
      var id = 'auth-' + i;
      var radio = el('input', { type: 'radio', name: 'auth-option', id: id, value: a.method });
      radio.checked = i === state.authIndex;
      radio.addEventListener('change', function () {
        state.authIndex = i;
        renderAuth(t);
      });
      fs.appendChild(el('div', { class: 'choice' }, [radio, el('label', { for: id, text: a.title || a.method })]));
    });
    box.appendChild(fs);
  }

  function renderAuth(t) {
    var box = $('auth-fields');
    box.textContent = '';
    var a = (t.auth || [])[state.authIndex];
    if (!a) return;
    if (isOAuth(a)) {
      var help = 'Opens ' + t.name + '\'s sign-in page in a new window; or enter the tokens below.';
      var b = el('button', { type: 'button', id: 'oauth-start', class: 'oauth', 'aria-describedby': 'oauth-help', text: 'Sign in with ' + t.name });
      b.addEventListener('click', function () { oauthStart(t); });
      box.appendChild(el('div', { class: 'field' }, [b, el('p', { class: 'help', id: 'oauth-help', text: help })]));
    }
    a.fields.forEach(function (f) {
      var secret = isSecret(f);
      box.appendChild(field({
        label: f.title || f.name,
        help: f.description,
        required: f.required,
        path: 'credentials.' + f.name,
        kind: secret ? 'password' : 'text',
        secret: secret,
      }));
    });
  }

  function renderConfig(t) {
    var box = $('config-fields');
    box.textContent = '';
    (t.config || []).forEach(function (c) {
      box.appendChild(field({ label: c.name, required: c.required, path: 'config.' + c.name, kind: 'text' }));
    });
  }

  /** The replication config's top-level fields, when its schema requires any. */
  function renderReplication(t) {
    var box = $('replication-fields');
    box.textContent = '';
    var s = t.replication_config;
    var required = (s && s.required) || [];
    if (!s || !s.properties || !required.length) return;
    var fs = el('fieldset', {}, [el('legend', { text: s.title || 'What to sync' })]);
    Object.keys(s.properties).forEach(function (name) {
      var p = s.properties[name] || {};
      var opts = { label: p.title || name, help: p.description, required: required.indexOf(name) >= 0, path: 'replication_config.' + name };
      var type = Array.isArray(p.type) ? p.type[0] : p.type;
      if (p.enum) { opts.kind = 'select'; opts.options = p.enum; }
      else if (type === 'array') { opts.kind = 'textarea'; opts.help = (p.description ? p.description + ' ' : '') + 'One per line.'; }
      else if (type === 'integer' || type === 'number') opts.kind = 'number';
      else if (type === 'object') { opts.kind = 'textarea'; opts.help = (p.description ? p.description + ' ' : '') + 'As JSON.'; }
      else opts.kind = 'text';
      fs.appendChild(field(opts));
    });
    box.appendChild(fs);
  }

  // ------------------------------------------------------------------ submitting

  function clearErrors() {
    showAlert('');
    Array.prototype.forEach.call($('connect-form').querySelectorAll('[data-path]'), function (i) {
      i.removeAttribute('aria-invalid');
      var e = $(i.id + '-error');
      if (e) { e.textContent = ''; e.hidden = true; }
    });
  }

  /** Shows `problem` next to the field at `path` (or its closest parent); the input, or null. */
  function fieldError(path, problem) {
    var p = path;
    while (p) {
      var input = $('connect-form').querySelector('[data-path="' + p.replace(/["\\]/g, '') + '"]');
      if (input) {
        var part = p === path ? '' : ' (' + path.slice(p.length).replace(/^[.]/, '') + ')';
        var e = $(input.id + '-error');
        e.textContent = (e.textContent ? e.textContent + ' ' : '') + labelOf(input) + part + ' ' + problem + '.';
        e.hidden = false;
        input.setAttribute('aria-invalid', 'true');
        return input;
      }
      var cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
      p = cut > 0 ? p.slice(0, cut) : '';
    }
    return null;
  }

  /** The form's values as a create request; problems found here are shown inline. */
  function collect(t) {
    var body = { connector_type: t.slug };
    var problems = [];
    var creds = {};
    var a = (t.auth || [])[state.authIndex];
    (a ? a.fields : []).forEach(function (f) {
      var v = $('auth-fields').querySelector('[data-path="credentials.' + f.name + '"]').value;
      if (v !== '') creds[f.name] = v;
    });
    body.credentials = creds;
    var config = {};
    (t.config || []).forEach(function (c) {
      var v = $('config-fields').querySelector('[data-path="config.' + c.name + '"]').value.trim();
      if (v) config[c.name] = v;
    });
    if (Object.keys(config).length) body.config = config;
    var s = t.replication_config;
    var inputs = $('replication-fields').querySelectorAll('[data-path]');
    if (inputs.length) {
      var rc = {};
      Array.prototype.forEach.call(inputs, function (i) {
        var name = i.getAttribute('data-path').slice('replication_config.'.length);
        var p = s.properties[name] || {};
        var type = Array.isArray(p.type) ? p.type[0] : p.type;
        var raw = i.value.trim();
        if (!raw) return;
        if (type === 'array') {
          var items = raw.split(/[\n,]/).map(function (x) { return x.trim(); }).filter(Boolean);
          var pattern = p.items && p.items.pattern;
          if (pattern) {
            var re;
            try { re = new RegExp(pattern, 'u'); } catch (e) { re = null; }
            items.forEach(function (x) {
              if (re && !re.test(x)) problems.push({ field: 'replication_config.' + name, problem: 'has an entry in the wrong form: "' + x + '"' });
            });
          }
          rc[name] = items;
        } else if (type === 'integer' || type === 'number') {
          rc[name] = Number(raw);
        } else if (type === 'object') {
          try { rc[name] = JSON.parse(raw); } catch (e) { problems.push({ field: 'replication_config.' + name, problem: 'is not valid JSON' }); }
        } else {
          rc[name] = raw;
        }
      });
      body.replication_config = rc;
    }
    var name = $('connector-name').value.trim();
    if (name) body.name = name;
    return { body: body, problems: problems };
  }

  function labelOf(input) {
    var l = document.querySelector('label[for="' + input.id + '"]');
    return l ? l.firstChild.textContent : 'This field';
  }

  function showProblems(problems) {
    var unplaced = [];
    var first = null;
    problems.forEach(function (p) {
      var placed = fieldError(String(p.field || ''), p.problem);
      if (placed) first = first || placed;
      else unplaced.push(p.field + ' ' + p.problem);
    });
    showAlert(unplaced.length ? 'Please check: ' + unplaced.join('; ') + '.' : 'Some fields need attention.');
    if (first) first.focus();
  }

  function submit(ev) {
    ev.preventDefault();
    var t = state.current;
    if (!t || !state.token) return;
    clearErrors();
    var c = collect(t);
    if (c.problems.length) { showProblems(c.problems); return; }
    var button = $('connect-submit');
    button.disabled = true;
    setStatus('Connecting ' + t.name + '…');
    call('POST', '/integrations/connectors', c.body).then(function (r) {
      button.disabled = false;
      if (r.status === 201 && r.body) {
        setStatus(t.name + ' is connected.');
        tell({ type: 'switchboard:connected', connector_id: r.body.id, name: r.body.name, connector_type: t.slug });
        loadConnectors();
        showCatalog();
        setStatus(t.name + ' is connected.');
        return;
      }
      var fields = r.body && r.body.details && r.body.details.fields;
      if (r.status === 422 && Array.isArray(fields) && fields.length) {
        setStatus('The details were not accepted.');
        showProblems(fields);
      } else {
        setStatus('The connection failed.');
        showAlert(failure('Cannot connect ' + t.name, r));
      }
      tell({ type: 'switchboard:error', code: r.body && r.body.code, message: r.body && r.body.message, status: r.status });
    }, function () {
      button.disabled = false;
      showAlert('The engine cannot be reached.');
    });
  }

  // ------------------------------------------------------------------ OAuth consent

  /** An auth option whose tokens come from an OAuth consent (it takes a refresh token). */
  function isOAuth(a) {
    return a.fields.some(function (f) { return f.name === 'refresh_token'; });
  }

  /** Starts a consent: the engine answers the provider's page, shown in a new window. */
  function oauthStart(t) {
    clearErrors();
    // Opened in the click itself (pop-up blockers), then sent to the provider.
    var popup = window.open('', 'switchboard-oauth', 'popup,width=560,height=700');
    var body = { connector_type: t.slug };
    var name = $('connector-name').value.trim();
    if (name) body.name = name;
    call('POST', '/oauth/initiate', body).then(function (r) {
      if (r.status === 200 && r.body && r.body.consent_url) {
        if (!popup) {
          showAlert('Allow pop-up windows for this page to sign in to ' + t.name + '.');
          return;
        }
        state.popup = popup;
        state.popupType = t;
        popup.location.href = r.body.consent_url;
        setStatus('Finish signing in to ' + t.name + ' in the new window.');
      } else {
        if (popup) popup.close();
        showAlert(failure('Cannot start signing in to ' + t.name, r));
        tell({ type: 'switchboard:error', code: r.body && r.body.code, message: r.body && r.body.message, status: r.status });
      }
    }, function () {
      if (popup) popup.close();
      showAlert('The engine cannot be reached.');
    });
  }

  /** The callback page's result: `{type: "switchboard:oauth", status, connector_id | error}`. */
  function oauthDone(d) {
    var t = state.popupType;
    state.popup = null;
    state.popupType = null;
    if (!d || d.type !== 'switchboard:oauth' || !t) return;
    if (d.status !== 'succeeded' || typeof d.connector_id !== 'string') {
      setStatus('Signing in to ' + t.name + ' did not complete.');
      showAlert('Signing in to ' + t.name + ' did not complete (' + (d.error || 'refused') + ').');
      tell({ type: 'switchboard:error', code: d.error || 'oauth_failed', message: 'the OAuth consent did not complete' });
      return;
    }
    loadConnectors().then(function (r) {
      var c = ((r.body && r.body.data) || []).filter(function (x) { return x.id === d.connector_id; })[0];
      tell({ type: 'switchboard:connected', connector_id: d.connector_id, name: c ? c.name : t.name, connector_type: t.slug });
      showCatalog();
      setStatus(t.name + ' is connected.');
    });
  }

  // ------------------------------------------------------------------ connections

  function loadConnectors() {
    return call('GET', '/integrations/connectors').then(function (r) {
      var list = $('connectors');
      list.textContent = '';
      var data = (r.status === 200 && r.body && r.body.data) || [];
      $('connectors-empty').hidden = data.length > 0;
      data.forEach(function (c) {
        var del = el('button', { type: 'button', text: 'Delete', 'aria-label': 'Delete ' + c.name });
        del.addEventListener('click', function () { remove(c); });
        list.appendChild(el('li', { 'data-id': c.id }, [
          el('span', {}, [el('strong', { text: c.name }), el('span', { class: 'kind', text: ' · ' + c.connector_type })]),
          del,
        ]));
      });
      return r;
    });
  }

  function remove(c) {
    call('DELETE', '/integrations/connectors/' + encodeURIComponent(c.id)).then(function (r) {
      if (r.status === 204) {
        setStatus(c.name + ' was deleted.');
        tell({ type: 'switchboard:deleted', connector_id: c.id });
        loadConnectors();
      } else {
        showAlert(failure('Cannot delete ' + c.name, r));
      }
    });
  }
})();
