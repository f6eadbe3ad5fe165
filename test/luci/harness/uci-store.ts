/**
 * An in-memory UCI configuration answering the ubus `uci` object's methods as
 * rpcd's uci plugin (openwrt/rpcd uci.c) does for LuCI's uci.js: get, add, set,
 * delete. Packages are parsed and written with wgts's own UCI reader
 * (src/openwrt/uci.ts), so what a form saves can be written out as the
 * /etc/config file the daemon reads.
 *
 * One simplification: rpcd stages changes (/tmp/.uci) until LuCI's "Save &
 * Apply" commits them; here a change lands in the package at once.
 */
import { anonymousSectionName, formatUci, parseUci, type UciPackage, type UciSection } from '../../../src/openwrt/uci';

export type UciJson = string | string[];

/** rpcd's section form: options plus .anonymous, .type, .name, .index. */
export type UciSectionJson = Record<string, UciJson | boolean | number>;

export class UciCallError extends Error {
  constructor(
    /** The ubus status rpcd answers with (4: not found, 2: invalid argument). */
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const UBUS_INVALID_ARGUMENT = 2;
const UBUS_NOT_FOUND = 4;
const NAME = /^[A-Za-z0-9_]+$/;

export class MemoryUci {
  private readonly packages = new Map<string, UciPackage>();
  /** Sections created so far per package, for uci's cfgNNHHHH names of new anonymous sections. */
  private readonly created = new Map<string, number>();

  /** Loads (or replaces) a package from /etc/config text. */
  load(name: string, text: string): void {
    const pkg = parseUci(text, `/etc/config/${name}`, name);
    this.packages.set(name, pkg);
    this.created.set(name, pkg.sections.length);
  }

  /** The package as /etc/config text. */
  text(name: string): string {
    return formatUci(this.pkg(name));
  }

  package(name: string): UciPackage {
    return this.pkg(name);
  }

  /** `uci get {config}`: every section. */
  get(config: string): { values: Record<string, UciSectionJson> } {
    const pkg = this.pkg(config);
    const values: Record<string, UciSectionJson> = {};
    pkg.sections.forEach((section, index) => {
      const json: UciSectionJson = { '.anonymous': section.anonymous, '.type': section.type, '.name': section.name, '.index': index };
      for (const [option, value] of section.options) json[option] = value.kind === 'list' ? [...value.values] : value.values[0]!;
      values[section.name] = json;
    });
    return { values };
  }

  /** `uci add {config, type, name?, values?}`: the new section's name. */
  add(config: string, type: string, name: string | undefined, values: Record<string, unknown> = {}): { section: string } {
    const pkg = this.pkg(config);
    if (typeof type !== 'string' || !/^[\x21-\x7e]+$/.test(type)) throw new UciCallError(UBUS_INVALID_ARGUMENT, 'bad section type');
    if (name !== undefined && (!NAME.test(name) || pkg.sections.some((s) => s.name === name))) {
      throw new UciCallError(UBUS_INVALID_ARGUMENT, `bad or duplicate section name ${name}`);
    }
    const count = (this.created.get(config) ?? 0) + 1;
    this.created.set(config, count);
    const section: UciSection = { type, name: name ?? anonymousSectionName(count, type), anonymous: name === undefined, line: 0, options: new Map() };
    pkg.sections.push(section);
    this.setValues(section, values);
    return { section: section.name };
  }

  /** `uci set {config, section, values}`: an empty string deletes the option, as in rpcd. */
  set(config: string, sectionName: string, values: Record<string, unknown>): Record<string, never> {
    this.setValues(this.section(config, sectionName), values);
    return {};
  }

  /** `uci delete {config, section, option? | options?}`: options, or the whole section. */
  delete(config: string, sectionName: string, options?: string[]): Record<string, never> {
    const pkg = this.pkg(config);
    const section = this.section(config, sectionName);
    if (options === undefined) pkg.sections.splice(pkg.sections.indexOf(section), 1);
    else for (const option of options) section.options.delete(option);
    return {};
  }

  private setValues(section: UciSection, values: Record<string, unknown>): void {
    for (const [option, value] of Object.entries(values ?? {})) {
      if (!NAME.test(option)) throw new UciCallError(UBUS_INVALID_ARGUMENT, `bad option name ${option}`);
      if (Array.isArray(value)) {
        section.options.set(option, { kind: 'list', values: value.map(String), line: 0 });
      } else if (value === '' || value === null || value === undefined) {
        section.options.delete(option);
      } else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
        section.options.set(option, { kind: 'option', values: [String(value)], line: 0 });
      } else {
        throw new UciCallError(UBUS_INVALID_ARGUMENT, `bad value for ${option}`);
      }
    }
  }

  private pkg(name: string): UciPackage {
    const pkg = this.packages.get(name);
    if (!pkg) throw new UciCallError(UBUS_NOT_FOUND, `no package ${name}`);
    return pkg;
  }

  private section(config: string, name: string): UciSection {
    const section = this.pkg(config).sections.find((s) => s.name === name);
    if (!section) throw new UciCallError(UBUS_NOT_FOUND, `no section ${name} in ${config}`);
    return section;
  }
}
