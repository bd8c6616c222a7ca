import { InvalidArgumentError } from '../errdefs/errors';

// The part of Go's text/template that CNI config templates use (containerd renders its
// conf_template with Go's engine): {{.Field}}, {{$var}}, {{range .List}} (dot = element),
// {{range $i, $v := .List}}, {{if …}} … {{else}} … {{end}}, and the "{{-" / "-}}" markers
// that trim the whitespace next to an action. Anything else is refused with the action
// named, never rendered wrongly.

type Value = string | string[] | number | boolean | undefined;
type Scope = { dot: Value | Record<string, Value>; vars: Map<string, Value> };

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'print'; expr: string }
  | { kind: 'if'; expr: string; then: Node[]; else: Node[] }
  | { kind: 'range'; expr: string; index?: string; elem?: string; body: Node[]; else: Node[] };

interface Token {
  text?: string;
  action?: string;
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      out.push({ text: src.slice(i) });
      break;
    }
    let text = src.slice(i, open);
    const close = src.indexOf('}}', open + 2);
    if (close < 0) throw new InvalidArgumentError(`template: unclosed action at offset ${open}`);
    let action = src.slice(open + 2, close);
    if (action.startsWith('- ')) {
      text = text.replace(/\s+$/, '');
      action = action.slice(1);
    }
    let next = close + 2;
    if (action.endsWith(' -')) {
      action = action.slice(0, -1);
      const m = /^\s*/.exec(src.slice(next));
      next += m ? m[0].length : 0;
    }
    if (text) out.push({ text });
    out.push({ action: action.trim() });
    i = next;
  }
  // Trimming of the text before an action was applied to the pushed text already, except
  // when a trailing "-}}" trimmed the start of the next text: handled by advancing `next`.
  return out;
}

function parse(tokens: Token[], pos: { i: number }, stopAt: string[]): { nodes: Node[]; stop: string } {
  const nodes: Node[] = [];
  while (pos.i < tokens.length) {
    const t = tokens[pos.i++] as Token;
    if (t.text !== undefined) {
      nodes.push({ kind: 'text', text: t.text });
      continue;
    }
    const a = t.action as string;
    if (a.startsWith('/*')) continue; // a comment
    if (stopAt.includes(a)) return { nodes, stop: a };
    let m: RegExpExecArray | null;
    if ((m = /^if\s+(.+)$/.exec(a))) {
      const body = parse(tokens, pos, ['else', 'end']);
      const alt = body.stop === 'else' ? parse(tokens, pos, ['end']).nodes : [];
      nodes.push({ kind: 'if', expr: (m[1] as string).trim(), then: body.nodes, else: alt });
    } else if ((m = /^range\s+(?:(\$\w*)\s*(?:,\s*(\$\w*))?\s*:=\s*)?(.+)$/.exec(a))) {
      const body = parse(tokens, pos, ['else', 'end']);
      const alt = body.stop === 'else' ? parse(tokens, pos, ['end']).nodes : [];
      const [, first, second, expr] = m;
      nodes.push({
        kind: 'range',
        expr: (expr as string).trim(),
        index: second ? first : undefined,
        elem: second ?? first,
        body: body.nodes,
        else: alt,
      });
    } else if (/^(\.[A-Za-z_]\w*|\.|\$\w*)$/.test(a)) {
      nodes.push({ kind: 'print', expr: a });
    } else {
      throw new InvalidArgumentError(`template: unsupported action {{${a}}}`);
    }
  }
  if (stopAt.length > 0) throw new InvalidArgumentError(`template: missing {{end}}`);
  return { nodes, stop: '' };
}

function evaluate(expr: string, scope: Scope): Value {
  if (expr === '.') return scope.dot as Value;
  if (expr.startsWith('$')) {
    if (!scope.vars.has(expr)) throw new InvalidArgumentError(`template: undefined variable "${expr}"`);
    return scope.vars.get(expr);
  }
  if (/^\.[A-Za-z_]\w*$/.test(expr)) {
    const dot = scope.dot;
    if (typeof dot !== 'object' || dot === null || Array.isArray(dot)) {
      throw new InvalidArgumentError(`template: can't evaluate field ${expr.slice(1)}`);
    }
    const key = expr.slice(1);
    if (!(key in dot)) throw new InvalidArgumentError(`template: can't evaluate field ${key}`);
    return (dot as Record<string, Value>)[key];
  }
  throw new InvalidArgumentError(`template: unsupported expression ${expr}`);
}

/** Go's notion of truth: zero values and empty lists are false. */
function truthy(v: Value): boolean {
  if (Array.isArray(v)) return v.length > 0;
  return v !== undefined && v !== '' && v !== 0 && v !== false;
}

function render(nodes: Node[], scope: Scope, out: string[]): void {
  for (const n of nodes) {
    if (n.kind === 'text') out.push(n.text);
    else if (n.kind === 'print') out.push(String(evaluate(n.expr, scope) ?? ''));
    else if (n.kind === 'if') render(truthy(evaluate(n.expr, scope)) ? n.then : n.else, scope, out);
    else {
      const list = evaluate(n.expr, scope);
      if (!Array.isArray(list)) throw new InvalidArgumentError(`template: range can't iterate over ${n.expr}`);
      if (list.length === 0) render(n.else, scope, out);
      list.forEach((elem, i) => {
        const vars = new Map(scope.vars);
        if (n.index) vars.set(n.index, i);
        if (n.elem) vars.set(n.elem, elem);
        render(n.body, { dot: elem, vars }, out);
      });
    }
  }
}

/** Render a Go text/template over `data` (the subset above). */
export function renderGoTemplate(src: string, data: Record<string, Value>): string {
  const nodes = parse(tokenize(src), { i: 0 }, []).nodes;
  const out: string[] = [];
  render(nodes, { dot: data, vars: new Map([['$', data as unknown as Value]]) }, out);
  return out.join('');
}
