// The dashboard of `nanoclient serve`: plain JavaScript, no library, nothing from the network.
//
// The API key is kept in this tab's sessionStorage and sent only as HTTP Basic auth (the key as
// user name, an empty password) in the Authorization header of the page's own requests: never in
// an address. Images stored on the server are fetched the same way and shown from blob: URLs.
// Whatever the server stores (category names, file names, statuses) is only ever set as text
// (textContent, text nodes), never parsed as HTML.
(function () {
  'use strict';

  const API = 'api/v2/ImageCategorization/';
  const OCR = 'api/v2/OCR/';
  const LOCAL = 'local/v1/';
  const KEY_ITEM = 'nanoclient.apiKey';
  // Like the SDK: at most 20 files and 8 MB per upload request.
  const BATCH_FILES = 20;
  const BATCH_BYTES = 8 * 1024 * 1024;
  const POLL_TRAINING_MS = 1500;
  const POLL_LIST_BUSY_MS = 2000;
  const POLL_LIST_IDLE_MS = 15000;
  const STATES = {
    '-1': ['failed', 'bad'], 0: ['created', ''], 1: ['needs more images', 'warn'], 2: ['ready to train', 'warn'],
    3: ['queued', 'busy'], 4: ['training', 'busy'], 5: ['trained', 'ok'],
  };

  const $ = (id) => document.getElementById(id);
  let apiKey = null;
  let view = 0;          // bumped on every change of view: late answers of an old view are dropped
  let timer = null;      // the one pending refresh
  let blobs = [];        // blob: URLs of the thumbnails shown, revoked when they go
  let tryBlob = null;
  let current = null;    // the model page's state: {id, model, category, page}

  // ------------------------------------------------------------------ elements, safely

  // h('div', {class: 'x'}, 'text', child): children that are not nodes become text nodes.
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === 'class') el.className = value;
      else if (name === 'text') el.textContent = value;
      else if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
      else el.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function meter(fraction, grade) {
    const bar = h('span');
    bar.style.width = (Math.max(0, Math.min(1, fraction)) * 100).toFixed(1) + '%';
    return h('span', {class: 'meter' + (grade ? ' ' + grade : '')}, bar);
  }

  const pct = (p) => (p * 100).toFixed(1) + '%';
  const grade = (p) => (p >= 0.9 ? 'good' : p >= 0.7 ? 'fair' : 'poor');
  const plural = (n, word) => n + ' ' + word + (n === 1 ? '' : 's');
  const total = (model) => model.categories.reduce((sum, c) => sum + c.count, 0);
  const minImages = (model) => (Number.isInteger(model.min_images) ? model.min_images : 1);
  const busy = (model) => model.state === 3 || model.state === 4;
  const enc = encodeURIComponent;

  const isOcr = (model) => model.model_type === 'ocr';

  // ------------------------------------------------------------------ the model types
  //
  // Each type the dashboard knows: its tag in the list, the address of its page, what a chip of the list says
  // of one of its categories. A type it does not know shows its own name and the Image Categorization page.
  const TYPES = {
    classification: {tag: 'Image categorization', page: '#/models/', chip: (c) => c.name + ': ' + plural(c.count, 'image')},
    ocr: {tag: 'OCR', page: '#/ocr/', chip: (c) => c.name + ': a field, labelled in ' + plural(c.count, 'document')},
    object_detection: {tag: 'Detection', page: '#/detection/',
      chip: (c) => c.name + ': a category, boxed in ' + plural(c.count, 'image')},
    multilabel: {tag: 'Multi-label', page: '#/multilabel/', chip: (c) => c.name + ': a label, on ' + plural(c.count, 'image')},
  };
  const typeOf = (model) => TYPES[model.model_type || 'classification']
    || {tag: model.model_type, page: '#/models/', chip: (c) => c.name};
  const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#9333ea', '#0891b2', '#db2777', '#65a30d'];
  // A category's colour: its place among the model's categories (grey for a name the model does not have).
  const colourAmong = (model, name) => {
    const at = model ? model.categories.findIndex((c) => c.name === name) : -1;
    return at < 0 ? '#6b7280' : PALETTE[at % PALETTE.length];
  };

  function stateBadge(el, state, ocr) {
    let [name, kind] = STATES[state] || ['state ' + state, ''];
    if (ocr && state === 1) name = 'needs more documents';
    el.className = 'badge' + (kind ? ' ' + kind : '');
    el.textContent = name;
    el.dataset.state = String(state);
  }

  // ------------------------------------------------------------------ talking to the server

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  function authorization() {
    const bytes = new TextEncoder().encode(apiKey + ':');
    let binary = '';
    bytes.forEach((b) => { binary += String.fromCharCode(b); });
    return 'Basic ' + btoa(binary);
  }

  function errorOf(status, body) {
    let message = (body && body.message) || (status ? 'HTTP ' + status : 'The server could not be reached');
    const detail = body && Array.isArray(body.errors) && body.errors[0] && body.errors[0].message;
    if (detail && detail !== message) message += ': ' + detail;
    return new ApiError(status, message);
  }

  async function send(method, path, {query, body, cache} = {}) {
    const url = path + (query ? '?' + new URLSearchParams(query) : '');
    let response;
    try {
      response = await fetch(url, {
        method, body, cache: cache || 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
        headers: {Authorization: authorization(), Accept: 'application/json'},
      });
    } catch (e) {
      throw new ApiError(0, 'The server could not be reached: is `nanoclient serve` still running?');
    }
    if (response.status === 401) {
      signOut('The server refused this API key.');
      throw new ApiError(401, 'The server refused this API key.');
    }
    return response;
  }

  async function json(method, path, options) {
    const response = await send(method, path, options);
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok) throw errorOf(response.status, body);
    return body;
  }

  // An upload with progress: fetch() cannot report the bytes sent, XMLHttpRequest can.
  function post(path, form, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', path);
      xhr.setRequestHeader('Authorization', authorization());
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
      xhr.onload = () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
        if (xhr.status === 401) signOut('The server refused this API key.');
        if (xhr.status >= 200 && xhr.status < 300) resolve(body);
        else reject(errorOf(xhr.status, body));
      };
      xhr.onerror = () => reject(new ApiError(0, 'The upload failed: the server could not be reached'));
      xhr.send(form);
    });
  }

  // ------------------------------------------------------------------ notices, timers, views

  let noticeTimer = null;
  function notify(message, kind) {
    $('notice-text').textContent = message;
    $('notice').className = 'notice' + (kind ? ' ' + kind : '');
    $('notice').hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { $('notice').hidden = true; }, kind === 'info' ? 5000 : 12000);
  }

  function later(fn, ms) {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  }

  function dropBlobs() {
    blobs.forEach((url) => URL.revokeObjectURL(url));
    blobs = [];
  }

  function open(name, title) {
    clearTimeout(timer);
    dropBlobs();
    for (const id of ['view-signin', 'view-models', 'view-model', 'view-ocr', 'view-detection', 'view-multilabel']) {
      $(id).hidden = id !== name;
    }
    document.title = title + ' · nanoclient';
    view += 1;
    return view;
  }

  // ------------------------------------------------------------------ signing in and out

  function masked(key) {
    return key.length > 8 ? key.slice(0, 3) + '…' + key.slice(-2) : '•••';
  }

  function signIn(key) {
    apiKey = key;
    sessionStorage.setItem(KEY_ITEM, key);
    $('key-label').textContent = 'key ' + masked(key);
    $('account').hidden = false;
  }

  function signOut(message) {
    apiKey = null;
    sessionStorage.removeItem(KEY_ITEM);
    $('account').hidden = true;
    if (message) notify(message);
    if (location.hash !== '#/') history.replaceState(null, '', location.pathname + location.search + '#/');
    showSignIn();
  }

  function showSignIn() {
    open('view-signin', 'Sign in');
    $('key-input').value = '';
    $('key-input').focus();
  }

  // ------------------------------------------------------------------ the models of this key

  function showModels() {
    const seq = open('view-models', 'Models');
    refreshModels(seq);
  }

  async function refreshModels(seq) {
    let models;
    try {
      models = await json('GET', API + 'Models/');
    } catch (e) {
      if (seq !== view) return;
      if (e.status !== 401) { notify(e.message); later(() => refreshModels(seq), POLL_LIST_IDLE_MS); }
      return;
    }
    if (seq !== view) return;
    models = models.slice().reverse();  // the API lists the oldest first
    $('models').replaceChildren(...models.map(modelRow));
    $('models-empty').hidden = models.length > 0;
    const training = models.some(busy);
    $('models-note').textContent = training ? 'a model trains: refreshing every 2 s'
      : plural(models.length, 'model') + ', newest first';
    later(() => refreshModels(seq), training ? POLL_LIST_BUSY_MS : POLL_LIST_IDLE_MS);
  }

  function modelRow(model) {
    const badge = h('span');
    stateBadge(badge, model.state, isOcr(model));
    const need = minImages(model);
    const type = typeOf(model);
    const chips = model.categories.map((c) => h('span', {class: 'chip' + (c.count < need ? ' short' : ''),
      title: type.chip(c)},
    h('span', {class: 'name'}, c.name), h('span', {class: 'n'}, c.count)));
    const accuracy = typeof model.accuracy === 'number'
      ? h('div', {class: 'accuracy', title: 'accuracy held out by the server'},
        meter(model.accuracy, grade(model.accuracy)), h('span', {class: 'num'}, pct(model.accuracy)))
      : h('div', {class: 'accuracy hint'}, model.state === 5 ? 'accuracy not measured' : 'no accuracy yet');
    return h('a', {class: 'model-row', href: type.page + enc(model.model_id),
      'data-model': model.model_id, 'data-type': model.model_type || 'classification'},
    h('div', {class: 'model-main'},
      h('div', {class: 'model-line'}, h('span', {class: 'mono'}, model.model_id),
        h('span', {class: 'type-tag', title: 'the model\'s type: ' + (model.model_type || 'classification')}, type.tag),
        badge),
        h('div', {class: 'model-status'}, model.status || '')),
      h('div', {class: 'chips'}, chips),
      accuracy);
  }

  async function createModel(event) {
    event.preventDefault();
    const names = $('create-categories').value.split(',').map((s) => s.trim()).filter(Boolean);
    const form = new URLSearchParams();
    names.forEach((name) => form.append('categories', name));
    try {
      const model = await json('POST', API + 'Model/', {body: form});
      $('create-categories').value = '';
      location.hash = '#/models/' + enc(model.model_id);
    } catch (e) {
      notify(e.message);
    }
  }

  // ------------------------------------------------------------------ one model

  function showModel(id) {
    const seq = open('view-model', 'Model ' + id);
    current = {id, model: null, category: null, page: 1};
    $('m-id').textContent = id;
    $('m-status').textContent = '';
    $('strip').replaceChildren();
    $('cats').replaceChildren();
    $('report-link').hidden = true;
    $('report-note').hidden = true;
    $('upload-result').hidden = true;
    $('upload-progress').hidden = true;
    $('try-result').hidden = true;
    loadModel(seq, true);
    loadReport(seq);
  }

  async function loadModel(seq, first) {
    let model;
    try {
      model = await json('GET', API + 'Model/' + enc(current.id));
    } catch (e) {
      if (seq !== view || e.status === 401) return;
      const page = e.status === 404 && first ? await pageOfModel(current.id) : null;
      if (page && page !== '#/models/') {
        if (seq === view) location.replace(page + enc(current.id));  // a model of another type has its own page
        return;
      }
      if (seq !== view) return;
      notify(e.status === 404 ? 'This key has no model ' + current.id + '.' : e.message);
      if (e.status !== 404) later(() => loadModel(seq, first), POLL_LIST_IDLE_MS);
      return;
    }
    if (seq !== view) return;
    const before = current.model;
    current.model = model;
    renderModel(model);
    if (first) {
      current.category = model.categories.length ? model.categories[0].name : null;
      renderCategories(model);
      renderUploadChoices(model);
      loadImages(seq);
    }
    if (before && busy(before) && !busy(model)) {
      notify(model.state === 5 ? 'The model is trained.' : 'Training ended: ' + model.status, model.state === 5 ? 'info' : '');
    }
    if (busy(model)) later(() => loadModel(seq, false), POLL_TRAINING_MS);
  }

  function renderModel(model) {
    stateBadge($('m-state'), model.state);
    $('m-title').textContent = 'Model';
    $('m-status').textContent = model.status || '';
    const accuracy = typeof model.accuracy === 'number' ? model.accuracy : null;
    $('m-accuracy').textContent = accuracy === null ? '–' : pct(accuracy);
    $('m-accuracy-card').className = 'card' + (accuracy === null ? '' : ' ' + grade(accuracy));
    $('m-accuracy-note').textContent = accuracy === null
      ? (model.state === 5 ? 'too few images to hold some out' : 'once trained')
      : Number.isInteger(model.accuracy_images) ? 'on ' + plural(model.accuracy_images, 'held-out image')
        : 'held out by the server';
    $('m-images').textContent = String(total(model));
    const short = model.categories.filter((c) => c.count < minImages(model)).length;
    $('m-images-note').textContent = short ? plural(short, 'category') + ' below ' + minImages(model) : 'enough to train';
    $('m-categories').textContent = String(model.categories.length);
    $('m-min-note').textContent = minImages(model) + ' images each to train';
    renderCategories(model);
    const button = $('train');
    const ready = model.categories.length >= 2 && short === 0;
    if (busy(model)) {
      button.disabled = true;
      button.textContent = model.state === 3 ? 'Queued…' : 'Training…';
      $('train-note').textContent = 'the state refreshes by itself';
    } else if (model.state === 5) {
      button.disabled = true;
      button.textContent = 'Trained';
      $('train-note').textContent = 'upload new images to train again';
    } else {
      button.disabled = !ready;
      button.textContent = model.state === -1 ? 'Train again' : 'Train';
      $('train-note').textContent = ready ? '' : 'every category needs ' + minImages(model) + ' images';
    }
    $('try-hint').textContent = model.state === 5 || accuracy !== null ? 'see its top 3 labels'
      : 'once the model is trained';
  }

  function renderCategories(model) {
    const need = minImages(model);
    $('cats').replaceChildren(...model.categories.map((c) => h('button', {
      type: 'button', class: 'cat', 'aria-pressed': String(c.name === current.category), title: c.name,
      onclick: () => {
        current.category = c.name;
        current.page = 1;
        $('upload-category').value = c.name;  // uploads go where one looks, unless chosen otherwise
        renderCategories(current.model);
        loadImages(view);
      },
    }, h('span', {class: 'cat-top'}, h('span', {class: 'name'}, c.name), h('span', {class: 'n'}, c.count)),
    meter(c.count / need, c.count >= need ? 'good' : 'fair'))));
  }

  function renderUploadChoices(model) {
    const select = $('upload-category');
    select.replaceChildren(...model.categories.map((c) => h('option', {value: c.name}, c.name)));
    if (current.category !== null) select.value = current.category;
  }

  async function loadImages(seq) {
    const {id, category, page} = current;
    if (category === null) return;
    let listing;
    try {
      listing = await json('GET', LOCAL + 'models/' + enc(id) + '/images', {query: {category, page}});
    } catch (e) {
      if (seq === view && e.status !== 401) notify(e.message);
      return;
    }
    if (seq !== view || category !== current.category || page !== current.page) return;
    dropBlobs();
    $('strip').replaceChildren(...listing.images.map((image) => thumbnail(seq, id, image)));
    $('strip-empty').hidden = listing.images.length > 0;
    $('strip-empty').textContent = 'No images in this category yet: upload some.';
    $('page-label').textContent = plural(listing.total, 'image') + ' in ' + category;
    $('pager').hidden = listing.pages <= 1;
    $('pager-text').textContent = 'page ' + listing.page + ' of ' + listing.pages;
    $('prev').disabled = listing.page <= 1;
    $('next').disabled = listing.page >= listing.pages;
  }

  function thumbnail(seq, id, image) {
    const img = h('img', {alt: image.name, loading: 'lazy', decoding: 'async'});
    const item = h('figure', {class: 'thumb', title: image.name, 'data-image': image.id},
      h('div', {class: 'frame'}, img), h('figcaption', {}, image.name));
    send('GET', LOCAL + 'models/' + enc(id) + '/images/' + image.id + '/thumbnail', {cache: 'default'})
      .then((response) => (response.ok ? response.blob() : null))
      .then((blob) => {
        if (!blob || seq !== view) return;
        const url = URL.createObjectURL(blob);
        blobs.push(url);
        img.addEventListener('load', () => { if (img.naturalWidth < 64) img.classList.add('pixelated'); });
        img.src = url;
      })
      .catch(() => {});
    return item;
  }

  function turnPage(step) {
    current.page = Math.max(1, current.page + step);
    loadImages(view);
  }

  async function train() {
    const seq = view;
    $('train').disabled = true;
    try {
      const model = await json('POST', API + 'Train/', {query: {modelId: current.id}});
      if (seq !== view) return;
      current.model = model;
      renderModel(model);
      later(() => loadModel(seq, false), POLL_TRAINING_MS);
    } catch (e) {
      if (seq !== view) return;
      notify(e.message);
      renderModel(current.model);
    }
  }

  // ------------------------------------------------------------------ uploading

  const isImage = (file) => /^image\/(png|jpeg)$/.test(file.type) || /\.(png|jpe?g)$/i.test(file.name);

  function batches(files) {
    const out = [];
    let batch = [];
    let bytes = 0;
    for (const file of files) {
      if (batch.length && (batch.length >= BATCH_FILES || bytes + file.size > BATCH_BYTES)) {
        out.push(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(file);
      bytes += file.size;
    }
    if (batch.length) out.push(batch);
    return out;
  }

  async function upload(fileList) {
    const seq = view;
    const category = $('upload-category').value;
    const files = Array.from(fileList);
    const images = files.filter(isImage);
    const skipped = files.length - images.length;
    const result = $('upload-result');
    if (!images.length) {
      result.className = 'result bad';
      result.textContent = 'Nothing to upload: only PNG and JPEG images are taken.';
      result.hidden = false;
      return;
    }
    const countOf = (model) => (model.categories.find((c) => c.name === category) || {count: 0}).count;
    const before = countOf(current.model);
    const size = images.reduce((sum, f) => sum + f.size, 0) || 1;
    let sent = 0;
    let done = 0;
    let model = current.model;
    const progress = (fraction, batchBytes) => {
      const share = (sent + fraction * batchBytes) / size;
      $('upload-bar').style.width = (share * 100).toFixed(1) + '%';
      $('upload-text').textContent = done + ' of ' + plural(images.length, 'file') + ' sent · ' + Math.round(share * 100) + '%';
    };
    result.hidden = true;
    $('upload-progress').hidden = false;
    progress(0, 0);
    try {
      for (const batch of batches(images)) {
        const batchBytes = batch.reduce((sum, f) => sum + f.size, 0);
        const form = new FormData();
        form.append('modelId', current.id);
        form.append('category', category);
        batch.forEach((file) => form.append('file', file, file.name));
        model = await post(API + 'UploadFile/', form, (fraction) => progress(fraction, batchBytes));
        sent += batchBytes;
        done += batch.length;
        progress(0, 0);
      }
      const added = countOf(model) - before;
      result.className = 'result';
      result.textContent = plural(images.length, 'image') + ' sent to ' + category + ': ' + added + ' new'
        + (added < images.length ? ', ' + (images.length - added) + ' already there' : '')
        + (skipped ? '; ' + plural(skipped, 'file') + ' skipped (not PNG or JPEG)' : '') + '.';
    } catch (e) {
      result.className = 'result bad';
      result.textContent = (done ? done + ' of ' + images.length + ' sent, then: ' : '') + e.message;
    }
    result.hidden = false;
    $('upload-progress').hidden = true;
    if (seq !== view) return;
    current.model = model;
    renderModel(model);
    if (current.category !== category) { current.category = category; renderCategories(model); }
    current.page = 1;
    loadImages(seq);
  }

  // ------------------------------------------------------------------ trying the model

  async function tryImage(file) {
    if (!file) return;
    const seq = view;
    if (tryBlob) URL.revokeObjectURL(tryBlob);
    tryBlob = URL.createObjectURL(file);
    $('try-preview').src = tryBlob;
    $('try-preview').alt = file.name;
    $('try-result').hidden = false;
    $('try-verdict').textContent = 'Asking the model…';
    $('try-scores').replaceChildren();
    const form = new FormData();
    form.append('modelId', current.id);
    form.append('file', file, file.name);
    let answer;
    try {
      answer = await json('POST', API + 'LabelFile/', {body: form});
    } catch (e) {
      if (seq === view) $('try-verdict').textContent = e.message;
      return;
    }
    if (seq !== view) return;
    const result = answer.result && answer.result[0];
    const scores = result ? result.prediction.slice().sort((a, b) => b.probability - a.probability).slice(0, 3) : [];
    if (!scores.length) {
      $('try-verdict').textContent = (result && result.message) || 'No prediction came back.';
      return;
    }
    $('try-verdict').replaceChildren('Looks like ', h('strong', {}, scores[0].label));
    $('try-scores').replaceChildren(...scores.map((s) => h('li', {},
      h('span', {class: 'lbl', title: s.label}, s.label), h('span', {class: 'num'}, pct(s.probability)),
      meter(s.probability))));
  }


  // ------------------------------------------------------------------ one OCR model
  //
  // Its categories are fields; its training documents come from the local extension
  // (local/v1/models/{id}/documents, each page as a PNG), drawn with their labelled boxes:
  // divs placed over the page in percent of the page's size, so that any width of picture fits.

  const DOCS_PER_PAGE = 12;
  const DOC_WIDTH = 600;  // pixels of the pictures in the gallery (300 to 400 CSS pixels, sharp at 2x)
  let ocr = null;        // the OCR page's state: {id, model, page}

  // The page of a model of this key, by its type in the list of models (null if the key has no such model).
  async function pageOfModel(id) {
    try {
      const model = (await json('GET', API + 'Models/')).find((m) => m.model_id === id);
      return model ? typeOf(model).page : null;
    } catch (e) {
      return null;
    }
  }

  const colourOf = (name) => colourAmong(ocr && ocr.model, name);
  const share = (value, of) => (100 * Math.max(0, Math.min(value, of)) / of).toFixed(3) + '%';

  // A box over a page: `title` as its tooltip, `label` on its tag; the page is width x height pixels.
  function boxOver(box, width, height, field, label, title) {
    const colour = colourOf(field);
    const tag = h('span', {class: 'box-label'}, label);
    tag.style.backgroundColor = colour;
    const el = h('div', {class: 'box', title, 'data-field': field}, tag);
    el.style.left = share(box.xmin, width);
    el.style.top = share(box.ymin, height);
    el.style.width = share(box.xmax - box.xmin, width);
    el.style.height = share(box.ymax - box.ymin, height);
    el.style.borderColor = colour;
    if (box.ymin < 0.04 * height) el.classList.add('label-inside');  // no room above the box
    if (box.xmin > 0.6 * width) el.classList.add('label-left');  // its tag ends at its right edge, on the page
    return el;
  }

  function showOcr(id) {
    const seq = open('view-ocr', 'OCR model ' + id);
    ocr = {id, model: null, page: 1};
    $('o-id').textContent = id;
    $('o-status').textContent = '';
    $('o-fields').replaceChildren();
    $('o-docs').replaceChildren();
    $('o-docs-empty').hidden = true;
    $('o-pager').hidden = true;
    $('o-try-result').hidden = true;
    $('o-documents').textContent = '–';
    loadOcr(seq, true);
  }

  async function loadOcr(seq, first) {
    let model;
    try {
      model = await json('GET', OCR + 'Model/' + enc(ocr.id));
    } catch (e) {
      if (seq !== view || e.status === 401) return;
      notify(e.status === 404 ? 'This key has no OCR model ' + ocr.id + '.' : e.message);
      if (e.status !== 404) later(() => loadOcr(seq, first), POLL_LIST_IDLE_MS);
      return;
    }
    if (seq !== view) return;
    const before = ocr.model;
    ocr.model = model;
    renderOcr(model);
    if (first) loadDocuments(seq);
    if (before && busy(before) && !busy(model)) {
      notify(model.state === 5 ? 'The model is trained.' : 'Training ended: ' + model.status, model.state === 5 ? 'info' : '');
    }
    if (busy(model)) later(() => loadOcr(seq, false), POLL_TRAINING_MS);
  }

  function renderOcr(model) {
    stateBadge($('o-state'), model.state, true);
    $('o-status').textContent = model.status || '';
    const accuracy = typeof model.accuracy === 'number' ? model.accuracy : null;
    $('o-accuracy').textContent = accuracy === null ? '–' : pct(accuracy);
    $('o-accuracy-card').className = 'card' + (accuracy === null ? '' : ' ' + grade(accuracy));
    $('o-accuracy-note').textContent = accuracy === null
      ? (model.state === 5 ? 'too few documents to hold some out' : 'once trained')
      : 'exact text, on ' + (Number.isInteger(model.accuracy_images) ? plural(model.accuracy_images, 'held-out value')
        : 'held-out values');
    const need = minImages(model);
    const short = model.categories.filter((c) => c.count < need);
    $('o-fields-count').textContent = String(model.categories.length);
    $('o-min-note').textContent = 'each labelled in ' + plural(need, 'document') + ' to train';
    $('o-fields').replaceChildren(...model.categories.map((c) => {
      const swatch = h('span', {class: 'swatch'});
      swatch.style.backgroundColor = colourOf(c.name);
      return h('div', {class: 'field', title: c.name + ': labelled in ' + plural(c.count, 'document'),
        'data-field': c.name},
      h('span', {class: 'cat-top'}, h('span', {class: 'name'}, swatch, c.name), h('span', {class: 'n'}, c.count)),
      meter(c.count / need, c.count >= need ? 'good' : 'fair'));
    }));
    const button = $('o-train');
    if (busy(model)) {
      button.disabled = true;
      button.textContent = model.state === 3 ? 'Queued…' : 'Training…';
      $('o-train-note').textContent = 'the state refreshes by itself';
    } else if (model.state === 5) {
      button.disabled = true;
      button.textContent = 'Trained';
      $('o-train-note').textContent = 'upload new documents to train again';
    } else {
      button.disabled = short.length > 0 || !model.categories.length;
      button.textContent = model.state === -1 ? 'Train again' : 'Train';
      $('o-train-note').textContent = short.length
        ? 'short: ' + short.map((c) => c.name + ' (' + c.count + ')').join(', ') : '';
    }
    $('o-try-hint').textContent = model.state === 5 || accuracy !== null ? 'PNG, JPEG or PDF: see the fields it reads'
      : 'once the model is trained';
  }

  async function loadDocuments(seq) {
    const {id, page} = ocr;
    let listing;
    try {
      listing = await json('GET', LOCAL + 'models/' + enc(id) + '/documents', {query: {page, per_page: DOCS_PER_PAGE}});
    } catch (e) {
      if (seq === view && e.status !== 401) notify(e.message);
      return;
    }
    if (seq !== view || page !== ocr.page) return;
    dropBlobs();
    $('o-docs').replaceChildren(...listing.documents.map((doc) => documentFigure(seq, id, doc)));
    $('o-docs-empty').hidden = listing.documents.length > 0;
    $('o-documents').textContent = String(listing.total);
    $('o-documents-note').textContent = listing.total ? 'training documents' : 'none uploaded yet';
    $('o-page-label').textContent = plural(listing.total, 'document') + ', newest first';
    $('o-pager').hidden = listing.pages <= 1;
    $('o-pager-text').textContent = 'page ' + listing.page + ' of ' + listing.pages;
    $('o-prev').disabled = listing.page <= 1;
    $('o-next').disabled = listing.page >= listing.pages;
  }

  function turnOcrPage(step) {
    ocr.page = Math.max(1, ocr.page + step);
    loadDocuments(view);
  }

  // One training document: a page of it with its labelled boxes (and buttons for its other pages).
  function documentFigure(seq, id, doc) {
    const sheet = h('div', {class: 'sheet'});
    const where = h('span', {class: 'doc-page'});
    const caption = h('figcaption', {}, h('span', {class: 'doc-name', title: doc.name}, doc.name), where);
    const item = h('figure', {class: 'doc', 'data-document': doc.id}, sheet, caption);
    let shown = 0;
    const show = (index) => {
      shown = index;
      const size = doc.page_sizes[index];
      const img = h('img', {alt: doc.name + (doc.page_count > 1 ? ', page ' + (index + 1) : ''), decoding: 'async'});
      sheet.style.aspectRatio = size.width + ' / ' + size.height;
      const boxes = doc.boxes.filter((b) => b.page === index).map((b) => boxOver(b, size.width, size.height, b.name,
        b.name, b.name + (b.ocr_text === null ? '' : ': ' + b.ocr_text)));
      sheet.replaceChildren(img, ...boxes);
      sheet.dataset.page = String(index);
      where.textContent = doc.page_count > 1 ? 'page ' + (index + 1) + ' of ' + doc.page_count : '';
      send('GET', LOCAL + 'models/' + enc(id) + '/documents/' + doc.id + '/pages/' + index,
        {query: {width: DOC_WIDTH}, cache: 'default'})
        .then((response) => (response.ok ? response.blob() : null))
        .then((blob) => {
          if (!blob || seq !== view || shown !== index) return;
          const url = URL.createObjectURL(blob);
          blobs.push(url);
          img.src = url;
        })
        .catch(() => {});
    };
    if (doc.page_count > 1) {
      caption.append(
        h('button', {type: 'button', class: 'page-step', 'aria-label': 'previous page',
          onclick: () => show((shown + doc.page_count - 1) % doc.page_count)}, '‹'),
        h('button', {type: 'button', class: 'page-step', 'aria-label': 'next page',
          onclick: () => show((shown + 1) % doc.page_count)}, '›'));
    }
    show(0);
    return item;
  }

  async function trainOcr() {
    const seq = view;
    $('o-train').disabled = true;
    try {
      const model = await json('POST', OCR + 'Model/' + enc(ocr.id) + '/Train/');
      if (seq !== view) return;
      ocr.model = model;
      renderOcr(model);
      later(() => loadOcr(seq, false), POLL_TRAINING_MS);
    } catch (e) {
      if (seq !== view) return;
      notify(e.message);
      renderOcr(ocr.model);
    }
  }

  // ------------------------------------------------------------------ trying an OCR model

  const isPdf = (file) => file.type === 'application/pdf' || /\.pdf$/i.test(file.name);
  const isDocument = (file) => isImage(file) || isPdf(file);

  // The fields read, drawn over the picture for an image; a PDF's pages are not drawn here (the browser
  // would need a PDF renderer): its fields are listed in the table, page by page.
  async function tryDocument(file) {
    if (!file) return;
    const seq = view;
    if (tryBlob) URL.revokeObjectURL(tryBlob);
    tryBlob = null;
    $('o-try-result').hidden = false;
    $('o-try-page').replaceChildren();
    $('o-try-page').hidden = true;
    $('o-try-rows').replaceChildren();
    $('o-try-table').hidden = true;
    if (!isDocument(file)) {
      $('o-try-verdict').textContent = 'Only PNG, JPEG and PDF files can be read.';
      return;
    }
    const pdf = isPdf(file);
    let img = null;
    if (!pdf) {
      tryBlob = URL.createObjectURL(file);
      img = h('img', {alt: file.name});
      img.src = tryBlob;
      $('o-try-page').replaceChildren(img);
      $('o-try-page').hidden = false;
    }
    $('o-try-verdict').textContent = 'Reading ' + file.name + '…';
    const form = new FormData();
    form.append('file', file, file.name);
    let answer;
    try {
      answer = await json('POST', OCR + 'Model/' + enc(ocr.id) + '/LabelFile/', {body: form});
    } catch (e) {
      if (seq === view) $('o-try-verdict').textContent = e.message;
      return;
    }
    if (seq !== view) return;
    const pages = Array.isArray(answer.result) ? answer.result : [];
    const failed = pages.find((p) => p.status === 'failure');
    const fields = pages.flatMap((p) => (p.prediction || []).map((f) => ({...f, page: p.page})));
    $('o-try-verdict').textContent = failed ? failed.message
      : plural(fields.length, 'field') + ' read' + (pdf ? ' on ' + plural(pages.length, 'page')
        + ' (a PDF: its pages are not drawn here, its fields are listed below)' : '') + '.';
    $('o-try-rows').replaceChildren(...fields.map((f) => {
      const swatch = h('span', {class: 'swatch'});
      swatch.style.backgroundColor = colourOf(f.label);
      return h('tr', {'data-field': f.label},
        pdf ? h('td', {class: 'num'}, String(f.page + 1)) : null,
        h('td', {class: 'lbl'}, swatch, f.label), h('td', {class: 'txt'}, f.ocr_text),
        h('td', {class: 'num'}, pct(f.score)));
    }));
    $('o-try-page-col').hidden = !pdf;
    $('o-try-table').hidden = fields.length === 0;
    if (pdf || !fields.length) return;
    const draw = () => {
      if (seq !== view || !img.naturalWidth) return;
      const wrap = h('div', {class: 'sheet'}, img, ...fields.map((f) => boxOver(f, img.naturalWidth, img.naturalHeight,
        f.label, f.label + ' · ' + pct(f.score), f.label + ': ' + f.ocr_text + ' (' + pct(f.score) + ')')));
      wrap.style.aspectRatio = img.naturalWidth + ' / ' + img.naturalHeight;
      $('o-try-page').replaceChildren(wrap);
    };
    if (img.complete && img.naturalWidth) draw(); else img.addEventListener('load', draw, {once: true});
  }

  // ------------------------------------------------------------------ pages of the model types with listed files
  //
  // Shared by the pages below: the train button, a model page's polling, a pager, an SVG drawn with boxes.

  const FILES_PER_PAGE = 12;
  const PICTURE_WIDTH = 300;  // pixels of the pictures in the galleries (96 to 300 are cached by the server)
  const SVG_NS = 'http://www.w3.org/2000/svg';

  // svg('rect', {x: 1}): an SVG element (attributes only; text as a text node).
  function svg(tag, attrs, text) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) el.setAttribute(name, String(value));
    if (text !== undefined) el.append(document.createTextNode(text));
    return el;
  }

  // Boxes over a picture of width x height pixels, in those pixels: each a rect in its category's colour with
  // its label on a tag. `boxes`: [{name, xmin, ymin, xmax, ymax, label?, title?}].
  function boxesSvg(width, height, boxes, colour) {
    const layer = svg('svg', {class: 'boxes', viewBox: '0 0 ' + width + ' ' + height, preserveAspectRatio: 'none',
      'aria-hidden': 'true'});
    const size = Math.max(8, Math.max(width, height) / 26);  // the tag's text, in the picture's pixels
    for (const box of boxes) {
      const tint = colour(box.name);
      const group = svg('g', {class: 'obj', 'data-label': box.name});
      if (box.title) group.append(svg('title', {}, box.title));
      group.append(svg('rect', {class: 'box-rect', x: box.xmin, y: box.ymin, width: box.xmax - box.xmin,
        height: box.ymax - box.ymin, stroke: tint, 'stroke-width': Math.max(1.5, size / 6)}));
      const label = box.label || box.name;
      const tagWidth = Math.min(width, label.length * size * 0.62 + size * 0.6);
      const above = box.ymin >= size * 1.3;
      const x = Math.max(0, Math.min(box.xmin, width - tagWidth));
      const y = above ? box.ymin - size * 1.3 : box.ymin;
      group.append(svg('rect', {class: 'box-tag', x, y, width: tagWidth, height: size * 1.3, fill: tint}),
        svg('text', {class: 'box-text', x: x + size * 0.3, y: y + size * 1.0, 'font-size': size}, label));
      layer.append(group);
    }
    return layer;
  }

  function showPager(prefix, listing) {
    $(prefix + '-pager').hidden = listing.pages <= 1;
    $(prefix + '-pager-text').textContent = 'page ' + listing.page + ' of ' + listing.pages;
    $(prefix + '-prev').disabled = listing.page <= 1;
    $(prefix + '-next').disabled = listing.page >= listing.pages;
  }

  // The train button of a model whose categories each need min_images items: busy, trained, short or ready.
  function trainButton(prefix, model, items) {
    const button = $(prefix + '-train');
    const short = model.categories.filter((c) => c.count < minImages(model));
    if (busy(model)) {
      button.disabled = true;
      button.textContent = model.state === 3 ? 'Queued…' : 'Training…';
      $(prefix + '-train-note').textContent = 'the state refreshes by itself';
    } else if (model.state === 5) {
      button.disabled = true;
      button.textContent = 'Trained';
      $(prefix + '-train-note').textContent = 'upload new ' + items + ' to train again';
    } else {
      button.disabled = short.length > 0 || !model.categories.length;
      button.textContent = model.state === -1 ? 'Train again' : 'Train';
      $(prefix + '-train-note').textContent = short.length
        ? 'short: ' + short.map((c) => c.name + ' (' + c.count + ')').join(', ') : '';
    }
  }

  // The page's state: the model read again, every 1.5 s while it trains; `render` draws it, `first` loads the rest.
  async function pollModel(seq, state, path, noun, render, first) {
    let model;
    try {
      model = await json('GET', path + 'Model/' + enc(state.id));
    } catch (e) {
      if (seq !== view || e.status === 401) return;
      notify(e.status === 404 ? 'This key has no ' + noun + ' ' + state.id + '.' : e.message);
      if (e.status !== 404) later(() => pollModel(seq, state, path, noun, render, first), POLL_LIST_IDLE_MS);
      return;
    }
    if (seq !== view) return;
    const before = state.model;
    state.model = model;
    render(model);
    if (first) first(seq);
    if (before && busy(before) && !busy(model)) {
      notify(model.state === 5 ? 'The model is trained.' : 'Training ended: ' + model.status, model.state === 5 ? 'info' : '');
    }
    if (busy(model)) later(() => pollModel(seq, state, path, noun, render, null), POLL_TRAINING_MS);
  }

  async function startTraining(state, path, noun, render) {
    const seq = view;
    $(state.prefix + '-train').disabled = true;
    try {
      const model = await json('POST', path + 'Model/' + enc(state.id) + '/Train/');
      if (seq !== view) return;
      state.model = model;
      render(model);
      later(() => pollModel(seq, state, path, noun, render, null), POLL_TRAINING_MS);
    } catch (e) {
      if (seq !== view) return;
      notify(e.message);
      render(state.model);
    }
  }

  // One stored picture of a model's file into `img` (a blob: URL, the key in the header), dropped with the view.
  function loadPicture(seq, path, img) {
    send('GET', path, {query: {width: PICTURE_WIDTH}, cache: 'default'})
      .then((response) => (response.ok ? response.blob() : null))
      .then((blob) => {
        if (!blob || seq !== view) return;
        const url = URL.createObjectURL(blob);
        blobs.push(url);
        img.src = url;
      })
      .catch(() => {});
  }

  function accuracyCard(prefix, model, measured, unmeasured) {
    const accuracy = typeof model.accuracy === 'number' ? model.accuracy : null;
    $(prefix + '-accuracy').textContent = accuracy === null ? '–' : pct(accuracy);
    $(prefix + '-accuracy-card').className = 'card' + (accuracy === null ? '' : ' ' + grade(accuracy));
    $(prefix + '-accuracy-note').textContent = accuracy === null ? (model.state === 5 ? unmeasured : 'once trained')
      : measured + (Number.isInteger(model.accuracy_images) ? ' on ' + plural(model.accuracy_images, 'held-out image')
        : '');
  }

  // A category (or label) with its swatch, its count and how far it is from min_images.
  function countedName(model, c, cls, title, onclick) {
    const swatch = h('span', {class: 'swatch'});
    swatch.style.backgroundColor = colourAmong(model, c.name);
    const need = minImages(model);
    return h(onclick ? 'button' : 'div', {class: cls, title, 'data-field': c.name, type: onclick ? 'button' : null,
      onclick},
    h('span', {class: 'cat-top'}, h('span', {class: 'name'}, swatch, c.name), h('span', {class: 'n'}, c.count)),
    meter(c.count / need, c.count >= need ? 'good' : 'fair'));
  }

  function tryPreview(file, box) {
    if (tryBlob) URL.revokeObjectURL(tryBlob);
    tryBlob = URL.createObjectURL(file);
    const img = h('img', {alt: file.name});
    img.src = tryBlob;
    box.replaceChildren(img);
    return img;
  }

  // ------------------------------------------------------------------ one object detection model
  //
  // Its categories are the classes it finds; its training images come from the local extension
  // (local/v1/models/{id}/detection/images, each picture downsized by the server) with their boxes drawn as an
  // SVG over the picture in the image's own pixels; "try it" draws the boxes found with their label and score.

  const DETECTION = 'api/v2/ObjectDetection/';
  let detection = null;  // the detection page's state: {prefix, id, model, page, found, image}

  function showDetection(id) {
    const seq = open('view-detection', 'Detection model ' + id);
    detection = {prefix: 'd', id, model: null, page: 1, found: null, image: null};
    $('d-id').textContent = id;
    $('d-status').textContent = '';
    $('d-categories').replaceChildren();
    $('d-images-grid').replaceChildren();
    $('d-images-empty').hidden = true;
    $('d-pager').hidden = true;
    $('d-try-result').hidden = true;
    $('d-images').textContent = '–';
    pollModel(seq, detection, DETECTION, 'object detection model', renderDetection, loadDetectionImages);
  }

  function renderDetection(model) {
    stateBadge($('d-state'), model.state);
    $('d-status').textContent = model.status || '';
    accuracyCard('d', model, 'mAP@0.5', 'too few images to hold some out');
    $('d-categories-count').textContent = String(model.categories.length);
    $('d-min-note').textContent = 'each boxed in ' + plural(minImages(model), 'image') + ' to train';
    $('d-categories').replaceChildren(...model.categories.map((c) => countedName(model, c, 'field',
      c.name + ': boxed in ' + plural(c.count, 'image'))));
    trainButton('d', model, 'images');
    $('d-try-hint').textContent = model.state === 5 ? 'see the objects it finds, with their scores'
      : 'once the model is trained';
  }

  async function loadDetectionImages(seq) {
    const {id, page} = detection;
    let listing;
    try {
      listing = await json('GET', LOCAL + 'models/' + enc(id) + '/detection/images',
        {query: {page, per_page: FILES_PER_PAGE}});
    } catch (e) {
      if (seq === view && e.status !== 401) notify(e.message);
      return;
    }
    if (seq !== view || page !== detection.page) return;
    dropBlobs();
    $('d-images-grid').replaceChildren(...listing.files.map((file) => detectionFigure(seq, id, file)));
    $('d-images-empty').hidden = listing.files.length > 0;
    $('d-images').textContent = String(listing.total);
    $('d-images-note').textContent = listing.total ? 'training images' : 'none uploaded yet';
    $('d-page-label').textContent = plural(listing.total, 'image') + ', newest first';
    showPager('d', listing);
  }

  function turnDetectionPage(step) {
    detection.page = Math.max(1, detection.page + step);
    loadDetectionImages(view);
  }

  // One training image with its labelled boxes.
  function detectionFigure(seq, id, file) {
    const img = h('img', {alt: file.name, decoding: 'async'});
    const sheet = h('div', {class: 'sheet'}, img);
    if (file.width && file.height) {
      sheet.style.aspectRatio = file.width + ' / ' + file.height;
      sheet.append(boxesSvg(file.width, file.height, file.boxes.map((b) => ({...b, title: b.name})),
        (name) => colourAmong(detection.model, name)));
    }
    loadPicture(seq, LOCAL + 'models/' + enc(id) + '/detection/images/' + file.id, img);
    return h('figure', {class: 'doc', 'data-image': file.id, 'data-boxes': file.boxes.length}, sheet,
      h('figcaption', {}, h('span', {class: 'doc-name', title: file.name}, file.name),
        h('span', {class: 'doc-page'}, file.boxes.length + (file.boxes.length === 1 ? ' box' : ' boxes'))));
  }

  // The boxes found in an image, drawn over it and listed, those scored at least the threshold.
  async function tryDetection(file) {
    if (!file) return;
    const seq = view;
    $('d-try-result').hidden = false;
    $('d-try-rows').replaceChildren();
    $('d-try-table').hidden = true;
    detection.found = null;
    if (!isImage(file)) {
      $('d-try-page').hidden = true;
      $('d-try-verdict').textContent = 'Only PNG and JPEG images can be read.';
      return;
    }
    detection.image = tryPreview(file, $('d-try-page'));
    $('d-try-page').hidden = false;
    $('d-try-verdict').textContent = 'Looking for objects in ' + file.name + '…';
    const form = new FormData();
    form.append('file', file, file.name);
    let answer;
    try {
      answer = await json('POST', DETECTION + 'Model/' + enc(detection.id) + '/LabelFile/', {body: form});
    } catch (e) {
      if (seq === view) $('d-try-verdict').textContent = e.message;
      return;
    }
    if (seq !== view) return;
    const result = Array.isArray(answer.result) ? answer.result[0] : null;
    if (!result || (result.message && result.message !== 'Success')) {
      $('d-try-verdict').textContent = (result && result.message) || 'No prediction came back.';
      return;
    }
    detection.found = result.prediction.slice().sort((a, b) => b.score - a.score);
    const img = detection.image;
    if (img.complete && img.naturalWidth) drawFound(seq); else img.addEventListener('load', () => drawFound(seq), {once: true});
  }

  function drawFound(seq) {
    const img = detection.image;
    const threshold = Number($('d-threshold').value);
    $('d-threshold-value').textContent = pct(threshold);
    if (seq !== view || !detection.found || !img || !img.naturalWidth) return;
    const shown = detection.found.filter((f) => f.score >= threshold);
    const colour = (name) => colourAmong(detection.model, name);
    $('d-try-verdict').textContent = plural(shown.length, 'object') + ' found, scored at least ' + pct(threshold)
      + (detection.found.length > shown.length ? ' (' + (detection.found.length - shown.length) + ' below)' : '') + '.';
    const sheet = h('div', {class: 'sheet'}, img, boxesSvg(img.naturalWidth, img.naturalHeight, shown.map((f) => ({
      name: f.label, xmin: f.xmin, ymin: f.ymin, xmax: f.xmax, ymax: f.ymax, label: f.label + ' ' + pct(f.score),
      title: f.label + ' (' + pct(f.score) + ')'})), colour));
    sheet.style.aspectRatio = img.naturalWidth + ' / ' + img.naturalHeight;
    $('d-try-page').replaceChildren(sheet);
    $('d-try-rows').replaceChildren(...shown.map((f) => {
      const swatch = h('span', {class: 'swatch'});
      swatch.style.backgroundColor = colour(f.label);
      return h('tr', {'data-label': f.label}, h('td', {class: 'lbl'}, swatch, f.label),
        h('td', {class: 'txt'}, f.xmin + ',' + f.ymin + ' – ' + f.xmax + ',' + f.ymax),
        h('td', {class: 'num'}, pct(f.score)));
    }));
    $('d-try-table').hidden = shown.length === 0;
  }

  function startDetection() {
    const render = (model) => renderDetection(model);
    $('d-train').addEventListener('click', () => startTraining(detection, DETECTION, 'object detection model', render));
    $('d-prev').addEventListener('click', () => turnDetectionPage(-1));
    $('d-next').addEventListener('click', () => turnDetectionPage(1));
    $('d-threshold').addEventListener('input', () => drawFound(view));
    $('d-threshold-value').textContent = pct(Number($('d-threshold').value));
    dropZone($('d-try-drop'), $('d-try-input'), (files) => tryDetection(files[0]));
  }

  // ------------------------------------------------------------------ one multi-label model
  //
  // Its categories are labels, any number of them on an image; its training images come from the local
  // extension (local/v1/models/{id}/multilabel/images, all or one label's) with their labels as chips;
  // "try it" shows every label's probability and the labels the model gives (at or above their threshold).

  const MULTILABEL = 'api/v2/MultiLabelClassification/';
  let multilabel = null;  // the multi-label page's state: {prefix, id, model, label, page}

  function showMultilabel(id) {
    const seq = open('view-multilabel', 'Multi-label model ' + id);
    multilabel = {prefix: 'l', id, model: null, label: null, page: 1};
    $('l-id').textContent = id;
    $('l-status').textContent = '';
    $('l-labels').replaceChildren();
    $('l-images-grid').replaceChildren();
    $('l-images-empty').hidden = true;
    $('l-pager').hidden = true;
    $('l-try-result').hidden = true;
    $('l-images').textContent = '–';
    pollModel(seq, multilabel, MULTILABEL, 'multi-label model', renderMultilabel, loadTaggedImages);
  }

  function renderMultilabel(model) {
    stateBadge($('l-state'), model.state);
    $('l-status').textContent = model.status || '';
    accuracyCard('l', model, 'held out', 'nanoclient multilabel evaluate measures it');
    $('l-labels-count').textContent = String(model.categories.length);
    $('l-min-note').textContent = 'each on ' + plural(minImages(model), 'image') + ' to train';
    renderLabelFilter(model);
    trainButton('l', model, 'images');
    $('l-try-hint').textContent = model.state === 5 ? 'see each label\u2019s probability' : 'once the model is trained';
  }

  // The labels with their counts; one pressed shows only its images, pressed again all of them.
  function renderLabelFilter(model) {
    $('l-labels').replaceChildren(...model.categories.map((c) => {
      const button = countedName(model, c, 'cat', c.name + ': on ' + plural(c.count, 'image'), () => {
        multilabel.label = multilabel.label === c.name ? null : c.name;
        multilabel.page = 1;
        renderLabelFilter(multilabel.model);
        loadTaggedImages(view);
      });
      button.setAttribute('aria-pressed', String(c.name === multilabel.label));
      return button;
    }));
  }

  async function loadTaggedImages(seq) {
    const {id, page, label} = multilabel;
    const query = {page, per_page: FILES_PER_PAGE};
    if (label !== null) query.label = label;
    let listing;
    try {
      listing = await json('GET', LOCAL + 'models/' + enc(id) + '/multilabel/images', {query});
    } catch (e) {
      if (seq === view && e.status !== 401) notify(e.message);
      return;
    }
    if (seq !== view || page !== multilabel.page || label !== multilabel.label) return;
    dropBlobs();
    $('l-images-grid').replaceChildren(...listing.files.map((file) => taggedFigure(seq, id, file)));
    $('l-images-empty').hidden = listing.files.length > 0;
    if (label === null) {
      $('l-images').textContent = String(listing.total);
      $('l-images-note').textContent = listing.total ? 'training images' : 'none uploaded yet';
    }
    $('l-page-label').textContent = plural(listing.total, 'image') + (label === null ? '' : ' labelled ' + label)
      + ', newest first';
    showPager('l', listing);
  }

  function turnTaggedPage(step) {
    multilabel.page = Math.max(1, multilabel.page + step);
    loadTaggedImages(view);
  }

  // One training image with its labels as chips (an image with none says so: it teaches what the labels are not).
  function taggedFigure(seq, id, file) {
    const img = h('img', {alt: file.name, loading: 'lazy', decoding: 'async'});
    img.addEventListener('load', () => { if (img.naturalWidth < 96) img.classList.add('pixelated'); });
    loadPicture(seq, LOCAL + 'models/' + enc(id) + '/multilabel/images/' + file.id, img);
    const chips = file.labels.map((name) => {
      const chip = h('span', {class: 'chip label-chip', 'data-label': name, title: name}, h('span', {class: 'name'}, name));
      chip.style.borderColor = colourAmong(multilabel.model, name);
      return chip;
    });
    return h('figure', {class: 'thumb tagged-item', 'data-image': file.id, title: file.name},
      h('div', {class: 'frame'}, img), h('figcaption', {}, file.name),
      h('div', {class: 'chips'}, chips.length ? chips : h('span', {class: 'hint small'}, 'no label')));
  }

  // Every label's probability, highest first, the labels given marked.
  async function tryTagged(file) {
    if (!file) return;
    const seq = view;
    $('l-try-result').hidden = false;
    $('l-try-scores').replaceChildren();
    if (!isImage(file)) {
      $('l-try-verdict').textContent = 'Only PNG and JPEG images can be read.';
      return;
    }
    if (tryBlob) URL.revokeObjectURL(tryBlob);
    tryBlob = URL.createObjectURL(file);
    $('l-try-preview').src = tryBlob;
    $('l-try-preview').alt = file.name;
    $('l-try-verdict').textContent = 'Asking the model…';
    const form = new FormData();
    form.append('files', file, file.name);
    let answer;
    try {
      answer = await json('POST', MULTILABEL + 'Model/' + enc(multilabel.id) + '/LabelFiles/', {body: form});
    } catch (e) {
      if (seq === view) $('l-try-verdict').textContent = e.message;
      return;
    }
    if (seq !== view) return;
    const result = Array.isArray(answer.result) ? answer.result[0] : null;
    if (!result || (result.message && result.message !== 'Success')) {
      $('l-try-verdict').textContent = (result && result.message) || 'No prediction came back.';
      return;
    }
    const given = new Set(result.labels || []);
    $('l-try-verdict').replaceChildren(...(given.size
      ? ['Labels: ', ...[...given].flatMap((name, i) => [i ? ', ' : '', h('strong', {}, name)])]
      : ['None of the labels.']));
    const scores = result.prediction.slice().sort((a, b) => b.probability - a.probability);
    $('l-try-scores').replaceChildren(...scores.map((s) => h('li', {class: given.has(s.label) ? 'given' : null,
      'data-label': s.label},
    h('span', {class: 'lbl', title: s.label}, s.label), h('span', {class: 'num'}, pct(s.probability)),
    meter(s.probability, given.has(s.label) ? 'good' : null))));
  }

  function startMultilabel() {
    $('l-train').addEventListener('click', () => startTraining(multilabel, MULTILABEL, 'multi-label model',
      renderMultilabel));
    $('l-prev').addEventListener('click', () => turnTaggedPage(-1));
    $('l-next').addEventListener('click', () => turnTaggedPage(1));
    dropZone($('l-try-drop'), $('l-try-input'), (files) => tryTagged(files[0]));
  }

  // ------------------------------------------------------------------ the evaluation report

  async function loadReport(seq) {
    let info;
    try {
      info = await json('GET', LOCAL + 'models/' + enc(current.id) + '/report');
    } catch (e) {
      return;  // 404: no report stored for this model
    }
    if (seq !== view) return;
    $('report-link').hidden = false;
    $('report-note').hidden = false;
    $('report-note').textContent = 'from ' + new Date(info.stored_at * 1000).toLocaleString(undefined,
      {dateStyle: 'medium', timeStyle: 'short'});
  }

  // A tab opened on an address cannot send the key: the server gives a one-use link instead.
  async function openReport(event) {
    event.preventDefault();
    try {
      const link = await json('POST', LOCAL + 'models/' + enc(current.id) + '/report/link');
      window.open(LOCAL + 'report-links/' + enc(link.token), '_blank', 'noopener');
    } catch (e) {
      notify(e.message);
    }
  }

  // ------------------------------------------------------------------ dropping files

  function dropZone(zone, input, onFiles) {
    zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
    zone.addEventListener('dragleave', () => zone.classList.remove('over'));
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      zone.classList.remove('over');
      if (e.dataTransfer && e.dataTransfer.files.length) onFiles(e.dataTransfer.files);
    });
    input.addEventListener('change', () => {
      if (input.files.length) onFiles(input.files);
      input.value = '';
    });
  }

  // ------------------------------------------------------------------ routing

  function route() {
    const hash = location.hash;
    if (hash.startsWith('#key=')) {  // a fragment never reaches the server; it leaves the address bar at once
      const key = decodeURIComponent(hash.slice(5).split('&')[0]).trim();
      history.replaceState(null, '', location.pathname + location.search + '#/');
      if (key) signIn(key);
    }
    if (!apiKey) { showSignIn(); return; }
    const match = /^#\/(models|ocr|detection|multilabel)\/([^/?#]+)$/.exec(location.hash);
    const pages = {ocr: showOcr, detection: showDetection, multilabel: showMultilabel, models: showModel};
    if (match) pages[match[1]](decodeURIComponent(match[2]));
    else showModels();
  }

  function start() {
    const stored = sessionStorage.getItem(KEY_ITEM);
    if (stored) signIn(stored);
    $('signin-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const key = $('key-input').value.trim();
      if (!key) return;
      signIn(key);
      $('key-input').value = '';
      if (location.hash === '#/' || !location.hash) route(); else location.hash = '#/';
    });
    $('sign-out').addEventListener('click', () => signOut());
    $('notice-close').addEventListener('click', () => { $('notice').hidden = true; });
    $('create-form').addEventListener('submit', createModel);
    $('train').addEventListener('click', train);
    $('prev').addEventListener('click', () => turnPage(-1));
    $('next').addEventListener('click', () => turnPage(1));
    $('report-link').addEventListener('click', openReport);
    dropZone($('upload-drop'), $('upload-input'), upload);
    dropZone($('try-drop'), $('try-input'), (files) => tryImage(files[0]));
    $('o-train').addEventListener('click', trainOcr);
    $('o-prev').addEventListener('click', () => turnOcrPage(-1));
    $('o-next').addEventListener('click', () => turnOcrPage(1));
    dropZone($('o-try-drop'), $('o-try-input'), (files) => tryDocument(files[0]));
    startDetection();
    startMultilabel();
    // dropping a file anywhere else must not navigate away from the page
    window.addEventListener('dragover', (e) => e.preventDefault());
    window.addEventListener('drop', (e) => e.preventDefault());
    window.addEventListener('hashchange', route);
    route();
  }

  start();
}());
