// The admin page: a form over the rules config, fed by the admin API (/admin/api). No framework and no build step:
// one ES module served from this origin, so the Content-Security-Policy can forbid every inline script and style.
const API = '/admin/api';
const WEEKDAYS = [
  ['mon', 'Пн'],
  ['tue', 'Вт'],
  ['wed', 'Ср'],
  ['thu', 'Чт'],
  ['fri', 'Пт'],
  ['sat', 'Сб'],
  ['sun', 'Вс'],
];
const ORIGINS = { file: 'файл', api: 'страница/API', rollback: 'откат' };

let csrf = '';
let running = null; // GET /config
let directory = null; // GET /directory
let draft = null; // the config being edited (JSON, same structure as the YAML file)
let validateTimer = 0;

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (v === true) node.setAttribute(k, '');
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) node.append(c);
  return node;
};

async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = csrf;
  const res = await fetch(API + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const type = res.headers.get('content-type') ?? '';
  const data = type.includes('json') ? await res.json() : await res.text();
  if (res.status === 401) showLogin();
  return { status: res.status, data };
}

// ---- sign in ----

function showLogin() {
  $('#login').hidden = false;
  $('#app').hidden = true;
  $('#nav').hidden = true;
}

/** The signed-in admin's name in the header (a token session has none). */
function showWho(admin) {
  $('#who').textContent = admin ? `Вы вошли как ${admin}` : 'Вход по токену';
}

async function signIn(ev) {
  ev.preventDefault();
  const name = $('#admin-name').value.trim();
  const res = await fetch(`${API}/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(name ? { name, password: $('#token').value } : { token: $('#token').value }),
    credentials: 'same-origin',
  });
  $('#token').value = '';
  if (res.status === 429)
    return void ($('#login-error').textContent = 'Слишком много попыток входа. Подождите минуту.');
  if (res.status !== 200)
    return void ($('#login-error').textContent = name ? 'Неверное имя или пароль.' : 'Неверный токен.');
  const session = await res.json();
  csrf = session.csrfToken;
  showWho(session.admin);
  $('#login-error').textContent = '';
  await start();
}

async function signOut() {
  await api('DELETE', '/session');
  csrf = '';
  showLogin();
}

// ---- the running config ----

async function loadRunning() {
  running = (await api('GET', '/config')).data;
  const r = running;
  $('#current-version').textContent =
    `Версия ${r.version} — ${ORIGINS[r.origin] ?? r.origin}, ${r.author}, ${new Date(r.at).toLocaleString('ru-RU')}${r.comment ? ` («${r.comment}»)` : ''}. Время на взятие в работу: ${r.config.rules.pickup.timeout}.`;
  $('#source-rule').textContent = `Что главнее, файл или страница: ${r.source.rule}`;
  // Every rule the service runs, from its registry: a new rule shows here without page code.
  $('#rule-list tbody').replaceChildren(
    ...r.rules.map((rule) =>
      el('tr', { 'data-rule': rule.id }, [
        el('td', { text: `${rule.id} · ${rule.title}` }),
        el('td', { text: rule.seed }),
        el('td', { text: !rule.enabled ? 'выключено' : rule.shadow ? 'теневой режим' : 'включено' }),
        el('td', { text: rule.configKey }),
      ]),
    ),
  );
  $('#file-differs').hidden = r.source.fileMatchesRunning;
  const rej = $('#rejection');
  rej.hidden = !r.rejection;
  rej.replaceChildren();
  if (r.rejection) {
    rej.append(
      el('p', {
        text: `Отклонено изменение (${r.rejection.origin === 'file' ? 'файл' : 'версия'}, ${new Date(r.rejection.at).toLocaleString('ru-RU')}); работает прежняя конфигурация:`,
      }),
    );
    rej.append(
      el(
        'ul',
        {},
        r.rejection.errors.map((e) => el('li', { text: `${e.path}: ${e.message}` })),
      ),
    );
  }
  renderWarnings($('#warnings'), r.warnings, 'Имена, которых больше нет в amoCRM (эта часть правил отключена):');
}

function renderWarnings(box, warnings, title) {
  box.replaceChildren();
  box.hidden = warnings.length === 0;
  if (warnings.length === 0) return;
  box.append(
    el('p', { text: title }),
    el(
      'ul',
      {},
      warnings.map((w) => el('li', { text: `${w.path}: ${w.message} — отключено: ${w.disabled}` })),
    ),
  );
}

// ---- the form ----

function field(label, path, input) {
  input.dataset.path = path;
  return el(
    'div',
    { class: 'field', 'data-field': path },
    el('label', {}, label, ' ', input),
    el('div', { class: 'field-error', 'data-error-for': path }),
  );
}

function textInput(value, onInput, attrs = {}) {
  return el('input', {
    type: 'text',
    value: value ?? '',
    ...attrs,
    oninput: (e) => {
      onInput(e.target.value);
      changed();
    },
  });
}

function numberInput(value, onInput, attrs = {}) {
  return el('input', {
    type: 'number',
    value: value ?? '',
    ...attrs,
    oninput: (e) => {
      onInput(e.target.value === '' ? undefined : Number(e.target.value));
      changed();
    },
  });
}

function checkbox(checked, onChange) {
  return el('input', {
    type: 'checkbox',
    checked: Boolean(checked),
    onchange: (e) => {
      onChange(e.target.checked);
      changed();
    },
  });
}

function select(options, value, onChange, attrs = {}) {
  const s = el(
    'select',
    {
      ...attrs,
      onchange: (e) => {
        onChange(e.target.value);
        changed();
      },
    },
    options.map(([v, label]) => el('option', { value: v, text: label })),
  );
  if (value !== undefined && !options.some(([v]) => v === value))
    s.prepend(el('option', { value, text: `${value} (нет среди активных в amoCRM)` }));
  s.value = value ?? '';
  return s;
}

const userOptions = () => directory.users.filter((u) => u.active).map((u) => [u.name, u.name]);

function renderPickup() {
  const p = draft.rules.pickup;
  const pipeline = directory.pipelines.find((x) => x.name === p.pipeline);
  const stages = (pipeline?.stages ?? []).map((s) => [s.name, s.name]);
  $('#pickup').replaceChildren(
    el('legend', { text: 'Взять в работу (R1): сколько времени у менеджера' }),
    field(
      'Включено',
      'rules.pickup.enabled',
      checkbox(p.enabled ?? true, (v) => (p.enabled = v)),
    ),
    field(
      'Теневой режим (без записи в amoCRM)',
      'rules.pickup.shadow',
      checkbox(p.shadow, (v) => (p.shadow = v)),
    ),
    field(
      'Этап',
      'rules.pickup.stage',
      select(stages, p.stage, (v) => (p.stage = v), { id: 'pickup-stage' }),
    ),
    field(
      'Время на взятие (напр. «15 мин», «1 ч 30 мин» или PT15M)',
      'rules.pickup.timeout',
      textInput(p.timeout, (v) => (p.timeout = v), { id: 'pickup-timeout', size: 8 }),
    ),
    field(
      'Пропусков до РОПа',
      'rules.pickup.maxMisses',
      numberInput(p.maxMisses, (v) => (p.maxMisses = v), { id: 'pickup-max-misses', min: 1, max: 20 }),
    ),
    field(
      'Распределение',
      'rules.pickup.strategy',
      select(
        [
          ['smooth_weighted_round_robin', 'по очереди с весами'],
          ['least_loaded', 'наименее загруженному'],
        ],
        p.strategy,
        (v) => (p.strategy = v),
      ),
    ),
  );
}

/** A schedule editor: always, weekly shifts ("09:00-21:00, 22:00-23:00" per day) or a cycle such as 2/2. */
function scheduleEditor(path, schedule, set, idPrefix) {
  const box = el('div', { class: 'schedule' });
  const render = () => {
    const s = schedule();
    const kind = select(
      [
        ['always', 'круглосуточно'],
        ['weekly', 'по дням недели'],
        ['cycle', 'цикл (2/2 и т.п.)'],
      ],
      s.kind,
      (v) => {
        if (v === 'weekly')
          set({
            kind: 'weekly',
            followHolidays: true,
            days: {
              mon: ['09:00-18:00'],
              tue: ['09:00-18:00'],
              wed: ['09:00-18:00'],
              thu: ['09:00-18:00'],
              fri: ['09:00-18:00'],
            },
          });
        else if (v === 'cycle')
          set({
            kind: 'cycle',
            pattern: '2/2',
            anchor: new Date().toISOString().slice(0, 10),
            shifts: ['09:00-21:00'],
          });
        else set({ kind: 'always' });
        render();
      },
      { id: `${idPrefix}-kind` },
    );
    const parts = [field('График', `${path}.kind`, kind)];
    if (s.kind === 'weekly') {
      for (const [day, label] of WEEKDAYS) {
        const value = (s.days[day] ?? []).join(', ');
        parts.push(
          field(
            label,
            `${path}.days.${day}`,
            textInput(
              value,
              (v) => {
                const shifts = v
                  .split(',')
                  .map((x) => x.trim())
                  .filter(Boolean);
                if (shifts.length === 0) delete s.days[day];
                else s.days[day] = shifts;
              },
              { id: `${idPrefix}-${day}`, size: 12, placeholder: 'выходной' },
            ),
          ),
        );
      }
      parts.push(
        field(
          'Праздники — выходные',
          `${path}.followHolidays`,
          checkbox(s.followHolidays ?? true, (v) => (s.followHolidays = v)),
        ),
      );
    } else if (s.kind === 'cycle') {
      parts.push(
        field(
          'Цикл',
          `${path}.pattern`,
          textInput(s.pattern, (v) => (s.pattern = v), { size: 5 }),
        ),
        field(
          'Первый рабочий день',
          `${path}.anchor`,
          textInput(s.anchor, (v) => (s.anchor = v), { size: 10 }),
        ),
        field(
          'Смены',
          `${path}.shifts`,
          textInput(
            s.shifts.join(', '),
            (v) =>
              (s.shifts = v
                .split(',')
                .map((x) => x.trim())
                .filter(Boolean)),
            { size: 14 },
          ),
        ),
      );
    }
    box.replaceChildren(...parts);
  };
  render();
  return box;
}

function renderDepartments() {
  const wrap = $('#departments');
  wrap.replaceChildren();
  draft.departments.forEach((d, i) => {
    const at = `departments[${i}]`;
    const rows = d.managers.map((m, j) => {
      const mat = `${at}.managers[${j}]`;
      const own = m.schedule !== undefined;
      const scheduleCell = el('td');
      const renderSchedule = () => {
        scheduleCell.replaceChildren(
          field(
            'Свой график',
            `${mat}.schedule`,
            checkbox(m.schedule !== undefined, (v) => {
              if (v) m.schedule = structuredClone(d.schedule);
              else delete m.schedule;
              renderSchedule();
            }),
          ),
          m.schedule !== undefined
            ? scheduleEditor(
                `${mat}.schedule`,
                () => m.schedule,
                (s) => (m.schedule = s),
                `m${i}-${j}`,
              )
            : el('span', { class: 'note', text: 'график отдела' }),
        );
      };
      renderSchedule();
      void own;
      return el(
        'tr',
        { 'data-manager': m.user },
        el(
          'td',
          {},
          field(
            '',
            `${mat}.user`,
            select(userOptions(), m.user, (v) => (m.user = v)),
          ),
        ),
        el(
          'td',
          {},
          field(
            '',
            `${mat}.weight`,
            numberInput(m.weight, (v) => (m.weight = v), { min: 0.1, step: 0.1 }),
          ),
        ),
        el(
          'td',
          {},
          field(
            '',
            `${mat}.cap`,
            numberInput(m.cap, (v) => (m.cap = v), { min: 1 }),
          ),
        ),
        el(
          'td',
          {},
          field(
            '',
            `${mat}.paused`,
            textInput(m.paused?.reason ?? '', (v) => (v ? (m.paused = { reason: v }) : delete m.paused), {
              size: 14,
              placeholder: 'не на паузе',
            }),
          ),
        ),
        el(
          'td',
          {},
          el('button', {
            type: 'button',
            text: 'Убрать',
            onclick: () => {
              d.managers.splice(j, 1);
              renderDepartments();
              changed();
            },
          }),
        ),
        scheduleCell,
      );
    });
    wrap.append(
      el(
        'fieldset',
        { 'data-department': d.name },
        el('legend', { text: `Отдел «${d.name}»` }),
        field(
          'РОП',
          `${at}.head`,
          select(userOptions(), d.head, (v) => (d.head = v)),
        ),
        el('h3', { text: 'График отдела' }),
        scheduleEditor(
          `${at}.schedule`,
          () => d.schedule,
          (s) => (d.schedule = s),
          `d${i}`,
        ),
        el('h3', { text: 'Менеджеры' }),
        el(
          'table',
          { class: 'managers' },
          el(
            'thead',
            {},
            el(
              'tr',
              {},
              ['Менеджер', 'Вес', 'Лимит', 'Пауза (причина)', '', 'График'].map((h) => el('th', { text: h })),
            ),
          ),
          el('tbody', {}, rows),
        ),
        el('button', {
          type: 'button',
          text: 'Добавить менеджера',
          onclick: () => {
            d.managers.push({ user: userOptions()[0]?.[0] ?? '', weight: 1, cap: 10, absences: [] });
            renderDepartments();
            changed();
          },
        }),
      ),
    );
  });
}

function renderEditor() {
  renderPickup();
  renderDepartments();
}

// ---- validation: errors next to their fields ----

function changed() {
  clearTimeout(validateTimer);
  validateTimer = setTimeout(validate, 250);
}

function showErrors(errors) {
  for (const f of document.querySelectorAll('.field.invalid')) f.classList.remove('invalid');
  for (const e of document.querySelectorAll('.field-error')) e.textContent = '';
  const general = [];
  const fields = [...document.querySelectorAll('[data-field]')];
  for (const err of errors) {
    // The field whose path is the longest prefix of the error's path (".days.mon" holds ".days.mon[0]").
    const match = fields
      .filter(
        (f) =>
          err.path === f.dataset.field ||
          err.path.startsWith(`${f.dataset.field}.`) ||
          err.path.startsWith(`${f.dataset.field}[`),
      )
      .sort((a, b) => b.dataset.field.length - a.dataset.field.length)[0];
    if (!match) {
      general.push(err);
      continue;
    }
    match.classList.add('invalid');
    const box = match.querySelector('.field-error');
    box.textContent = box.textContent ? `${box.textContent}; ${err.message}` : err.message;
  }
  const g = $('#general-errors');
  g.hidden = general.length === 0;
  g.replaceChildren(...general.map((e) => el('div', { text: `${e.path}: ${e.message}` })));
}

async function validate() {
  const res = await api('POST', '/config/validate', { config: draft });
  if (res.status !== 200) return false;
  showErrors(res.data.errors);
  renderWarnings(
    $('#draft-warnings'),
    res.data.warnings,
    'В черновике есть имена, которых нет в amoCRM (эта часть будет отключена):',
  );
  $('#editor-status').textContent = res.data.ok
    ? res.data.warnings.length
      ? `Проверено: ошибок нет, предупреждений: ${res.data.warnings.length}.`
      : 'Проверено: ошибок нет.'
    : `Ошибок: ${res.data.errors.length}. Исправьте поля, отмеченные красным.`;
  return res.data.ok;
}

// ---- dry run, apply ----

function counts(c) {
  return `${c.assigned} / ${c.reassignedAway} / ${c.tasksCreated} / ${c.violations}`;
}

async function dryRun() {
  $('#editor-status').textContent = 'Пробный прогон…';
  const res = await api('POST', '/dry-run', { config: draft, days: Number($('#days').value) || 7 });
  if (res.status === 422) {
    showErrors(res.data.errors);
    $('#editor-status').textContent = 'Черновик с ошибками: пробный прогон невозможен.';
    return;
  }
  if (res.status !== 200) return void ($('#editor-status').textContent = `Ошибка пробного прогона (${res.status}).`);
  const r = res.data;
  const diffCell = (a, b) =>
    el('td', { class: a === b ? 'num' : 'num changed', text: a === b ? String(a) : `${a} → ${b}` });
  const table = el(
    'table',
    { id: 'dry-run-table' },
    el('caption', {
      text: `Что изменилось бы за ${Math.round((Date.parse(r.to) - Date.parse(r.from)) / 86400000)} дн.: ${r.events} событий, ${r.leads} лидов (сейчас → черновик)`,
    }),
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        [
          'Менеджер',
          'Получил лидов',
          'Забрано после пропуска',
          'Задач создано',
          'Нарушений',
          'По записи: назначений / нарушений',
        ].map((h) => el('th', { text: h })),
      ),
    ),
    el(
      'tbody',
      {},
      r.managers.map((m) =>
        el(
          'tr',
          { 'data-user': m.userId },
          el('td', { text: m.name }),
          diffCell(m.current.assigned, m.draft.assigned),
          diffCell(m.current.reassignedAway, m.draft.reassignedAway),
          diffCell(m.current.tasksCreated, m.draft.tasksCreated),
          diffCell(m.current.violations, m.draft.violations),
          el('td', { class: 'num', text: m.recorded ? `${m.recorded.assigned} / ${m.recorded.violations}` : '' }),
        ),
      ),
      el(
        'tr',
        {},
        el('th', { text: 'Итого' }),
        el('td', { colspan: 5, text: `сейчас ${counts(r.totals.current)}; черновик ${counts(r.totals.draft)}` }),
      ),
    ),
  );
  $('#dry-run-result').replaceChildren(table);
  $('#editor-status').textContent = 'Пробный прогон готов.';
}

async function apply() {
  const res = await api('POST', '/config/apply', {
    config: draft,
    comment: $('#comment').value,
    baseVersion: running.version,
  });
  if (res.status === 422) {
    showErrors(res.data.errors);
    $('#editor-status').textContent = 'Не применено: в черновике ошибки.';
    return;
  }
  if (res.status === 409)
    return void ($('#editor-status').textContent =
      'Не применено: конфигурацию изменили с другой стороны. Обновите страницу.');
  if (res.status !== 200) return void ($('#editor-status').textContent = `Не применено (${res.status}).`);
  $('#comment').value = '';
  await reload();
  $('#editor-status').textContent = res.data.unchanged
    ? `Изменений нет: действует версия ${res.data.version}.`
    : `Применено: версия ${res.data.version}.`;
}

// ---- versions ----

async function loadVersions() {
  const { data } = await api('GET', '/versions');
  const body = $('#versions-table tbody');
  body.replaceChildren(
    ...data.versions.map((v) =>
      el(
        'tr',
        { 'data-version': v.version },
        el('td', { text: v.version === data.current ? `${v.version} (действует)` : String(v.version) }),
        el('td', { text: new Date(v.at).toLocaleString('ru-RU') }),
        el('td', { text: v.author }),
        el('td', { text: `${ORIGINS[v.origin] ?? v.origin}${v.rollbackOf ? ` к ${v.rollbackOf}` : ''}` }),
        el('td', { text: v.comment }),
        el(
          'td',
          {},
          el('button', { type: 'button', text: 'Изменения', onclick: () => showDiff(v.version) }),
          v.version !== data.current
            ? el('button', {
                type: 'button',
                class: 'rollback',
                text: 'Откатить к этой',
                onclick: () => rollback(v.version),
              })
            : null,
        ),
      ),
    ),
  );
}

async function showDiff(version) {
  const { data } = await api('GET', `/versions/${version}`);
  const pre = $('#diff');
  pre.hidden = false;
  pre.textContent = data.diff || '(первая версия)';
}

async function rollback(version) {
  const res = await api('POST', `/versions/${version}/rollback`, { comment: `откат к версии ${version}` });
  if (res.status !== 200) return void ($('#editor-status').textContent = `Откат не выполнен (${res.status}).`);
  await reload();
  $('#editor-status').textContent = `Откат выполнен: действует версия ${res.data.version} (как версия ${version}).`;
}

// ---- ledger and lead history ----

const dayStart = (d) => (d ? new Date(`${d}T00:00:00`).toISOString() : undefined);
const dayEnd = (d) => (d ? new Date(`${d}T23:59:59`).toISOString() : undefined);
const userName = (id) => directory?.users.find((u) => u.id === id)?.name ?? (id === undefined ? '' : `#${id}`);

function rangeQuery() {
  const q = new URLSearchParams();
  const from = dayStart($('#ledger-from').value);
  const to = dayEnd($('#ledger-to').value);
  if (from) q.set('from', from);
  if (to) q.set('to', to);
  return q.toString();
}

/** The ledger's states as people read them (src/rules/disputes/texts.ts says the same). */
const VIOLATION_STATES = {
  open: 'открыто',
  disputed: 'оспорено, ждёт решения РОПа',
  upheld: 'оставлено РОПом',
  withdrawn: 'снято РОПом',
  cured: 'устранено',
};

async function loadLedger(ev) {
  ev?.preventDefault();
  const q = rangeQuery();
  const { data } = await api('GET', `/violations?${q}`);
  $('#ledger-table tbody').replaceChildren(
    ...data.violations.map((v) =>
      el(
        'tr',
        {},
        el('td', { text: new Date(v.at).toLocaleString('ru-RU') }),
        el('td', { text: v.type }),
        el('td', { text: v.leadId }),
        el('td', { text: userName(v.userId) }),
        el('td', { text: v.reason }),
        el('td', { text: VIOLATION_STATES[v.state] ?? v.state ?? '' }),
        el('td', {
          text: [
            v.disputedBy ? `оспорил(а) ${v.disputedBy}: «${v.disputeReason ?? ''}»` : '',
            v.decidedBy ? `решил(а) ${v.decidedBy}, ${new Date(v.decidedAt).toLocaleString('ru-RU')}` : '',
          ]
            .filter(Boolean)
            .join('; '),
        }),
      ),
    ),
  );
  $('#export-violations').href = `${API}/export/violations.csv?${q}`;
  $('#export-assignments').href = `${API}/export/assignments.csv?${q}`;
}

async function loadLead(ev) {
  ev.preventDefault();
  const { data } = await api('GET', `/leads/${Number($('#lead-id').value)}/history`);
  $('#lead-table tbody').replaceChildren(
    ...(data.records ?? []).map((r) =>
      el(
        'tr',
        {},
        el('td', { text: new Date(r.at).toLocaleString('ru-RU') }),
        el('td', { text: r.type ? `${r.kind}: ${r.type}` : r.kind }),
        el('td', { text: userName(r.userId) }),
        el('td', { text: userName(r.previousUserId) }),
        el('td', { text: r.reason }),
      ),
    ),
  );
}

// ---- intake: pause and resume (R2) ----

const pauseText = (p) =>
  `${p.source === 'config' ? 'в конфигурации' : 'вручную'}: ${p.reason}${p.by ? ` — ${p.by}` : ''}${p.at ? `, ${new Date(p.at).toLocaleString('ru-RU')}` : ''}`;

async function changeIntake(path, op) {
  const reason = $('#intake-reason').value.trim();
  if (reason.length < 3) return void ($('#intake-status').textContent = 'Укажите причину (не короче 3 символов).');
  const by = $('#intake-by').value.trim();
  const res = await api('POST', `/intake/${path}/${op}`, by ? { reason, by } : { reason });
  $('#intake-status').textContent =
    res.status === 200
      ? op === 'pause'
        ? 'Приём приостановлен.'
        : 'Приём возобновлён.'
      : `Не выполнено: ${res.data?.error?.message ?? res.status}`;
  if (res.status === 200) $('#intake-reason').value = '';
  await loadIntake();
}

function intakeButton(path, paused, fromConfig) {
  if (fromConfig) return el('span', { class: 'note', text: 'снимается в конфигурации' });
  const op = paused ? 'resume' : 'pause';
  return el('button', {
    type: 'button',
    onclick: () => changeIntake(path, op),
    text: paused ? 'Возобновить' : 'Приостановить',
  });
}

async function loadIntake() {
  const { data } = await api('GET', '/intake');
  const rows = [];
  for (const d of data.departments ?? []) {
    const runtime = d.pauses.some((p) => p.source === 'runtime');
    rows.push(
      el(
        'tr',
        {},
        el('td', { text: d.name }),
        el('td', { text: 'весь отдел' }),
        el('td', { text: d.pauses.length ? 'приостановлен' : 'открыт' }),
        el('td', { text: d.pauses.map(pauseText).join('; ') }),
        el(
          'td',
          {},
          intakeButton(`departments/${encodeURIComponent(d.name)}`, runtime, d.pauses.length > 0 && !runtime),
        ),
      ),
    );
    for (const m of d.managers) {
      const own = m.pauses.some((p) => p.source === 'runtime');
      rows.push(
        el(
          'tr',
          {},
          el('td', {}),
          el('td', { text: m.name }),
          el('td', {
            text: m.receiving ? 'получает заявки' : m.active === false ? 'неактивен в amoCRM' : 'не получает',
          }),
          el('td', { text: m.pauses.map(pauseText).join('; ') }),
          el('td', {}, intakeButton(`managers/${m.userId}`, own, m.pauses.length > 0 && !own)),
        ),
      );
    }
  }
  $('#intake-table tbody').replaceChildren(...rows);
  $('#intake-history tbody').replaceChildren(
    ...(data.history ?? []).map((r) =>
      el(
        'tr',
        {},
        el('td', { text: new Date(r.at).toLocaleString('ru-RU') }),
        el('td', { text: r.kind === 'intake_paused' ? 'приостановлен' : 'возобновлён' }),
        el('td', { text: r.reason }),
      ),
    ),
  );
}

// ---- start ----

async function reload() {
  await loadRunning();
  draft = structuredClone(running.config);
  renderEditor();
  showErrors([]);
  await loadVersions();
}

async function start() {
  directory = (await api('GET', '/directory')).data;
  $('#login').hidden = true;
  $('#app').hidden = false;
  $('#nav').hidden = false;
  await reload();
  await loadLedger();
  await loadIntake();
}

document.addEventListener('DOMContentLoaded', async () => {
  $('#login-form').addEventListener('submit', signIn);
  $('#sign-out').addEventListener('click', signOut);
  $('#dry-run').addEventListener('click', dryRun);
  $('#apply').addEventListener('click', apply);
  $('#ledger-form').addEventListener('submit', loadLedger);
  $('#lead-form').addEventListener('submit', loadLead);
  $('#intake-form').addEventListener('submit', (ev) => ev.preventDefault());
  const res = await fetch(`${API}/session`, { credentials: 'same-origin' });
  if (res.status !== 200) return showLogin();
  const session = await res.json();
  csrf = session.csrfToken ?? '';
  showWho(session.admin);
  await start();
});
