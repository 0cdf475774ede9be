// A small Markdown renderer for repository descriptions. It builds DOM
// nodes directly: headings, paragraphs, emphasis, inline and fenced code,
// lists, block quotes, rules and links (http, https and mailto only). Raw
// HTML in the source is shown as text; nothing is ever parsed as HTML.
import { h } from './dom.js';

const LINK_OK = /^(https?:\/\/|mailto:)/i;

// inline renders emphasis, code and links of one block's text.
export function inline(text) {
  const out = [];
  let buf = '';
  const flush = () => { if (buf) { out.push(buf); buf = ''; } };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '\\' && i + 1 < text.length && /[\\`*_[\]()#+\-.!<>]/.test(text[i + 1])) {
      buf += text[i + 1];
      i += 2;
      continue;
    }
    if (c === '`') {
      const end = text.indexOf('`', i + 1);
      if (end > i) {
        flush();
        out.push(h('code', null, text.slice(i + 1, end)));
        i = end + 1;
        continue;
      }
    }
    // "_" emphasizes only at word boundaries (snake_case stays as is).
    const boundary = c === '*' || i === 0 || /\W/.test(text[i - 1]);
    const closes = (end, n) => c === '*' || end + n >= text.length || /\W/.test(text[end + n]);
    if ((c === '*' || c === '_') && text[i + 1] === c && boundary) {
      const end = text.indexOf(c + c, i + 2);
      if (end > i + 2 && closes(end, 2)) {
        flush();
        out.push(h('strong', null, inline(text.slice(i + 2, end))));
        i = end + 2;
        continue;
      }
    }
    if ((c === '*' || c === '_') && boundary) {
      const end = text.indexOf(c, i + 1);
      if (end > i + 1 && text[i + 1] !== ' ' && closes(end, 1)) {
        flush();
        out.push(h('em', null, inline(text.slice(i + 1, end))));
        i = end + 1;
        continue;
      }
    }
    if (c === '[') {
      const m = /^\[([^\]]*)\]\(([^)\s]*)(?:\s+"[^"]*")?\)/.exec(text.slice(i));
      if (m) {
        flush();
        const label = inline(m[1]);
        if (LINK_OK.test(m[2])) {
          out.push(h('a', { href: m[2], rel: 'noopener nofollow noreferrer', target: '_blank' }, label));
        } else {
          out.push(h('span', { class: 'md-bad-link' }, label));
        }
        i += m[0].length;
        continue;
      }
    }
    if (c === 'h' || c === 'm') {
      const m = /^(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/.exec(text.slice(i));
      if (m && (i === 0 || /\s/.test(text[i - 1]))) {
        flush();
        out.push(h('a', { href: m[1], rel: 'noopener nofollow noreferrer', target: '_blank' }, m[1]));
        i += m[1].length;
        continue;
      }
    }
    buf += c;
    i += 1;
  }
  flush();
  return out;
}

// render turns Markdown source into a document fragment.
export function render(source) {
  const lines = String(source ?? '').replace(/\r\n?/g, '\n').split('\n');
  const frag = document.createDocumentFragment();
  let i = 0;
  let para = [];
  const flushPara = () => {
    if (para.length) {
      frag.append(h('p', null, inline(para.join(' '))));
      para = [];
    }
  };
  while (i < lines.length) {
    const line = lines[i];
    const fence = /^\s*(```|~~~)\s*([\w+-]*)\s*$/.exec(line);
    if (fence) {
      flushPara();
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) {
        body.push(lines[i]);
        i += 1;
      }
      i += 1;
      frag.append(h('pre', null, h('code', { class: fence[2] ? `language-${fence[2]}` : null }, body.join('\n'))));
      continue;
    }
    if (/^\s*$/.test(line)) {
      flushPara();
      i += 1;
      continue;
    }
    const heading = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      flushPara();
      // Descriptions sit under the page's h1 and h2: start at h3.
      const level = Math.min(6, heading[1].length + 2);
      frag.append(h(`h${level}`, null, inline(heading[2])));
      i += 1;
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      flushPara();
      frag.append(h('hr'));
      i += 1;
      continue;
    }
    if (/^\s*>/.test(line)) {
      flushPara();
      const body = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) {
        body.push(lines[i].replace(/^\s*>\s?/, ''));
        i += 1;
      }
      frag.append(h('blockquote', null, render(body.join('\n'))));
      continue;
    }
    const item = /^\s*([-*+]|\d{1,9}[.)])\s+(.*)$/.exec(line);
    if (item) {
      flushPara();
      const ordered = /\d/.test(item[1]);
      const list = h(ordered ? 'ol' : 'ul');
      while (i < lines.length) {
        const m = /^\s*([-*+]|\d{1,9}[.)])\s+(.*)$/.exec(lines[i]);
        if (m && /\d/.test(m[1]) === ordered) {
          list.append(h('li', null, inline(m[2])));
          i += 1;
        } else if (lines[i].trim() !== '' && /^\s{2,}/.test(lines[i]) && list.lastChild) {
          list.lastChild.append(' ', ...inline(lines[i].trim()));
          i += 1;
        } else {
          break;
        }
      }
      frag.append(list);
      continue;
    }
    para.push(line.trim());
    i += 1;
  }
  flushPara();
  return frag;
}

// markdown renders source into a <div class="markdown">.
export function markdown(source) {
  return h('div', { class: 'markdown' }, render(source));
}
