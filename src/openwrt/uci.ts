// OpenWrt's UCI configuration files (/etc/config/<package>), read and written
// by the rules of libuci's file.c, so that a file `uci` accepts reads the same
// here and a file `uci` rejects is rejected here too, with its line.
//
// A file is a sequence of statements, one per line (or several joined by ';'):
//   package NAME               ignored when a file is loaded by name, as uci does
//   config TYPE ['NAME']       opens a section; without a name it is anonymous
//   option NAME 'VALUE'        sets a single value; a repeated option overrides
//   list NAME 'VALUE'          appends to a list (an earlier option becomes its first item)
// Each command may be abbreviated to its first letter. Arguments are shell-like
// words: 'single quotes' take everything literally up to the next quote, newlines
// included; "double quotes" and unquoted text turn \x into x; a backslash at the
// end of a line joins the next line; quoted and unquoted pieces without space
// between them form one word. Outside quotes, '#' ends the line, even mid-word.
// Section and option names are [A-Za-z0-9_]+; types are any printable ASCII.
// An empty option value sets nothing (uci neither sets nor deletes), while an
// empty list value adds an empty item.
//
// Anonymous sections are named as uci names them, cfgNNHHHH: NN counts the
// sections created so far in hex, HHHH is a DJB hash of the type. Scripts also
// address them as @type[index] (see lookupSection).
//
// Where uci's line-buffer parser is inconsistent we are more forgiving and say
// so here: uci rejects a ';' followed only by the end of the line when the word
// before it was quoted, and silently drops the rest of the line when it was not;
// we accept both and parse what follows the ';'. Line numbers are counted from 1
// on every line (uci does not count a last line that lacks its newline), and an
// unterminated quote is reported at the line where it opens.
//
// Files hold secrets (keys, passwords), so error messages never quote values.

export interface UciValue {
  kind: 'option' | 'list';
  /** Exactly one value for an option. */
  values: string[];
  /** Line of the statement: the last `option`, or the first `list` (or the option it extended). */
  line: number;
  /** Line of each value, parallel to values, where the parser knows them. */
  valueLines?: number[];
}

export interface UciSection {
  type: string;
  name: string;
  anonymous: boolean;
  /** Line of the first `config` statement of this section. */
  line: number;
  /** In file order; a redefined option keeps its first position. */
  options: Map<string, UciValue>;
}

export interface UciPackage {
  name: string;
  file: string;
  sections: UciSection[];
}

export class UciError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly problem: string,
  ) {
    super(`${file}:${line}: ${problem}`);
    this.name = 'UciError';
  }
}

const NAME = /^[A-Za-z0-9_]+$/;
const PACKAGE_NAME = /^[A-Za-z0-9_-]+$/;
// uci_validate_type: alphanumerics, '_' and every other printable ASCII character.
const TYPE = /^[\x21-\x7e]+$/;

/** isspace() without '\n', which ends a statement instead. */
function isBlank(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\r' || c === '\v' || c === '\f';
}

const COMMANDS = new Map<string, 'package' | 'config' | 'option' | 'list'>([
  ['package', 'package'],
  ['p', 'package'],
  ['config', 'config'],
  ['c', 'config'],
  ['option', 'option'],
  ['o', 'option'],
  ['list', 'list'],
  ['l', 'list'],
]);

interface Argument {
  readonly value: string;
  readonly line: number;
}

/** Parses the text of one UCI file; throws a UciError at the first syntax error. */
export function parseUci(text: string, file: string, packageName: string): UciPackage {
  if (!PACKAGE_NAME.test(packageName)) throw new Error(`parseUci: invalid package name ${JSON.stringify(packageName)}`);
  const fail = (line: number, problem: string): never => {
    throw new UciError(file, line, problem);
  };

  let pos = 0;
  let line = 1;
  const at = (offset = 0): string | undefined => text[pos + offset];

  const sections: UciSection[] = [];
  const sectionsByName = new Map<string, UciSection>();
  let sectionCount = 0;
  let current: UciSection | undefined;

  /** A backslash followed by the end of its line joins the next line (parse_backslash). */
  function lineEndAfterBackslash(): number {
    if (at(1) === '\n') return 2;
    if (at(1) === '\r' && at(2) === '\n') return 3;
    return 0;
  }

  function skipToEndOfLine(): void {
    while (pos < text.length && text[pos] !== '\n') pos++;
  }

  function readSingleQuoted(): string {
    const openLine = line;
    let out = '';
    pos++;
    for (;;) {
      const c = at();
      if (c === undefined) return fail(openLine, "unterminated ' quote: it runs to the end of the file");
      pos++;
      if (c === "'") return out;
      if (c === '\n') line++;
      out += c;
    }
  }

  function readDoubleQuoted(): string {
    const openLine = line;
    let out = '';
    pos++;
    for (;;) {
      const c = at();
      if (c === undefined) return fail(openLine, 'unterminated " quote: it runs to the end of the file');
      if (c === '"') {
        pos++;
        return out;
      }
      if (c === '\\') {
        const join = lineEndAfterBackslash();
        if (join > 0) {
          pos += join;
          line++;
          continue;
        }
        pos++;
        if (at() === undefined) continue;
      }
      const kept = at()!;
      if (kept === '\n') line++;
      out += kept;
      pos++;
    }
  }

  /**
   * The next argument of a statement (next_arg + parse_str). At the end of the
   * statement it is empty; a ';' is consumed as an empty argument, so that a
   * command's check for extra arguments steps over it to the next statement.
   */
  function readArgument(): Argument {
    while (isBlank(at())) pos++;
    const start = line;
    if (at() === ';') {
      pos++;
      return { value: '', line: start };
    }
    let value = '';
    for (;;) {
      const c = at();
      if (c === undefined || c === '\n' || c === ';' || isBlank(c)) break;
      if (c === "'") value += readSingleQuoted();
      else if (c === '"') value += readDoubleQuoted();
      else if (c === '#') {
        skipToEndOfLine();
        break;
      } else if (c === '\\') {
        const join = lineEndAfterBackslash();
        if (join > 0) {
          pos += join;
          line++;
        } else if (at(1) === undefined) {
          pos++;
        } else {
          value += at(1);
          pos += 2;
        }
      } else {
        value += c;
        pos++;
      }
    }
    return { value, line: start };
  }

  function requireArgument(what: string): Argument {
    const arg = readArgument();
    if (arg.value === '') fail(arg.line, `insufficient arguments: missing ${what}`);
    return arg;
  }

  // uci reads exactly one more argument after a command and only objects when it is non-empty.
  function expectEndOfStatement(): void {
    const extra = readArgument();
    if (extra.value !== '') fail(extra.line, 'too many arguments (quote a value that contains spaces)');
  }

  function checkName(arg: Argument, pattern: RegExp, what: string): void {
    if (!pattern.test(arg.value)) fail(arg.line, `invalid character in ${what} ${describe(arg.value)}`);
  }

  function openSection(type: Argument, name: Argument, statementLine: number): void {
    if (name.value !== '') {
      const existing = sectionsByName.get(name.value);
      if (existing !== undefined) {
        // Reopening a section merges into it; uci's strict mode refuses a change of type.
        if (existing.type !== type.value) {
          fail(statementLine, `section ${describe(name.value)} of type ${describe(existing.type)} (line ${existing.line}) cannot be redeclared with type ${describe(type.value)}`);
        }
        current = existing;
        return;
      }
    }
    sectionCount++;
    const anonymous = name.value === '';
    const section: UciSection = {
      type: type.value,
      name: anonymous ? anonymousSectionName(sectionCount, type.value) : name.value,
      anonymous,
      line: statementLine,
      options: new Map(),
    };
    sections.push(section);
    if (!sectionsByName.has(section.name)) sectionsByName.set(section.name, section);
    current = section;
  }

  function setOption(section: UciSection, name: string, value: Argument, statementLine: number): void {
    if (value.value === '') return;
    section.options.set(name, { kind: 'option', values: [value.value], line: statementLine, valueLines: [value.line] });
  }

  function addListItem(section: UciSection, name: string, value: Argument, statementLine: number): void {
    const existing = section.options.get(name);
    if (existing === undefined) {
      section.options.set(name, { kind: 'list', values: [value.value], line: statementLine, valueLines: [value.line] });
      return;
    }
    const lines = existing.valueLines ?? existing.values.map(() => existing.line);
    section.options.set(name, {
      kind: 'list',
      values: [...existing.values, value.value],
      line: existing.line,
      valueLines: [...lines, value.line],
    });
  }

  function parseStatement(word: string, statementLine: number): void {
    const command = COMMANDS.get(word);
    if (command === undefined) {
      return fail(statementLine, `invalid command ${describe(word)} (expected package, config, option or list)`);
    }
    switch (command) {
      case 'package': {
        // Loading /etc/config/NAME names the package; the statement is checked and ignored.
        checkName(requireArgument('package name'), PACKAGE_NAME, 'package name');
        expectEndOfStatement();
        return;
      }
      case 'config': {
        const type = requireArgument('section type');
        checkName(type, TYPE, 'section type');
        const name = readArgument();
        if (name.value !== '') checkName(name, NAME, 'section name');
        expectEndOfStatement();
        openSection(type, name, statementLine);
        return;
      }
      case 'option':
      case 'list': {
        const section = current;
        if (section === undefined) return fail(statementLine, `${command} found before the first config section`);
        const name = requireArgument('option name');
        checkName(name, NAME, 'option name');
        const value = readArgument();
        expectEndOfStatement();
        if (command === 'option') setOption(section, name.value, value, statementLine);
        else addListItem(section, name.value, value, statementLine);
        return;
      }
    }
  }

  while (pos < text.length) {
    // One line; it may hold several statements.
    for (;;) {
      while (isBlank(at())) pos++;
      const c = at();
      if (c === undefined) break;
      if (c === '\n') {
        pos++;
        line++;
        break;
      }
      const statementLine = line;
      // The command word runs up to a space or tab, like uci's strtok(" \t").
      const start = pos;
      while (pos < text.length && text[pos] !== ' ' && text[pos] !== '\t' && text[pos] !== '\n') pos++;
      const word = text.slice(start, pos);
      if (word.startsWith('#')) {
        skipToEndOfLine();
        continue;
      }
      parseStatement(word, statementLine);
    }
  }

  return { name: packageName, file, sections };
}

/** uci's name for the n-th section of a package (counting from 1) when it is anonymous. */
export function anonymousSectionName(sectionNumber: number, type: string): string {
  // uci hashes the type when the section is created, before it has options:
  // djbhash seeded with 5381, kept to 31 bits, then taken modulo 2^16.
  let hash = 5381;
  for (const byte of new TextEncoder().encode(type)) hash = (Math.imul(hash, 33) + byte) >>> 0;
  const low = hash & 0xffff;
  return `cfg${sectionNumber.toString(16).padStart(2, '0')}${low.toString(16).padStart(4, '0')}`;
}

/**
 * Finds a section the way uci addresses one: by name (anonymous sections too,
 * by their cfgNNHHHH name) or as @type[index], where a negative index counts
 * from the end and an empty type matches every section.
 */
export function lookupSection(pkg: UciPackage, ref: string): UciSection | undefined {
  if (!ref.startsWith('@')) return pkg.sections.find((s) => s.name === ref);
  const match = /^@([^[\]]*)\[(-?[0-9]+)\]$/.exec(ref);
  if (match === null) return undefined;
  const type = match[1]!;
  const ofType = type === '' ? pkg.sections : pkg.sections.filter((s) => s.type === type);
  let index = Number(match[2]);
  if (index < 0) index += ofType.length;
  return ofType[index];
}

/** How `uci show` refers to a section: its name, or @type[index] when anonymous. */
export function sectionRef(pkg: UciPackage, section: UciSection): string {
  if (!section.anonymous) return section.name;
  const index = pkg.sections.filter((s) => s.type === section.type).indexOf(section);
  return `@${section.type}[${index}]`;
}

/**
 * The file text for a package in the layout `uci commit` writes: a blank line
 * before each section, values in single quotes. Parsing it gives back the same
 * sections, options and values (anonymous sections are renamed as uci renames
 * them on every load). Throws if a name, type or value could not be read back.
 */
export function formatUci(pkg: UciPackage): string {
  const bad = (what: string): never => {
    throw new Error(`formatUci: ${pkg.name}: ${what} cannot be written to a UCI file`);
  };
  let out = '';
  for (const section of pkg.sections) {
    if (!TYPE.test(section.type)) bad(`section type ${JSON.stringify(section.type)}`);
    out += `\nconfig ${/^[A-Za-z0-9_-]+$/.test(section.type) ? section.type : quote(section.type)}`;
    if (!section.anonymous) {
      if (!NAME.test(section.name)) bad(`section name ${JSON.stringify(section.name)}`);
      out += ` ${quote(section.name)}`;
    }
    out += '\n';
    for (const [name, value] of section.options) {
      if (!NAME.test(name)) bad(`option name ${JSON.stringify(name)}`);
      if (value.values.some((v) => v.includes('\0'))) bad(`a value of option ${name} (it contains NUL)`);
      if (value.kind === 'option') {
        // An empty option would read back as no option at all.
        if (value.values.length !== 1 || value.values[0] === '') bad(`option ${name} (it needs exactly one non-empty value)`);
        out += `\toption ${name} ${quote(value.values[0]!)}\n`;
      } else {
        for (const item of value.values) out += `\tlist ${name} ${quote(item)}\n`;
      }
    }
  }
  return out + '\n';
}

/** Single quotes keep everything but a quote, which is closed, escaped and reopened: '\''. */
function quote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/** A name for an error message: short ones quoted, anything long (a misplaced key?) left out. */
function describe(text: string): string {
  return text.length <= 32 ? JSON.stringify(text) : `(${text.length} characters)`;
}
