/**
 * `docker run` command lines, alone or inside shell scripts (with line continuations, `sudo`,
 * variable prefixes and command substitutions), turned into the workload model that the static
 * checks read. Suppressions are comments right above the command:
 * `# memory.dynamo.ai/ignore-check.ST-CAP-01: <reason>`.
 */
import { finding } from './manifest/catalogue.js';
import {
  emptyContainer,
  emptyWorkload,
  type ContainerModel,
  type Located,
  type WorkloadModel,
} from './manifest/model.js';
import { parseDockerSize } from './manifest/quantity.js';
import { scanShell, type ShellScan, type ShellToken } from './manifest/shell.js';
import type { CheckResult, SourceLocation } from './report.js';

/** What scanning a script gives. */
export interface DockerScan {
  workloads: WorkloadModel[];
  findings: CheckResult[];
}

function words(text: string): Set<string> {
  return new Set(text.split(' '));
}

/** `docker run` flags that take a value (docker 27); those in `valueless` take none. */
const valued = words(
  '--add-host --annotation --attach --blkio-weight --blkio-weight-device --cap-add --cap-drop ' +
    '--cgroup-parent --cgroupns --cidfile --cpu-count --cpu-percent --cpu-period --cpu-quota ' +
    '--cpu-rt-period --cpu-rt-runtime --cpu-shares --cpus --cpuset-cpus --cpuset-mems ' +
    '--detach-keys --device --device-cgroup-rule --device-read-bps --device-read-iops ' +
    '--device-write-bps --device-write-iops --dns --dns-opt --dns-option --dns-search ' +
    '--domainname --entrypoint --env --env-file --expose --gpus --group-add --health-cmd ' +
    '--health-interval --health-retries --health-start-interval --health-start-period ' +
    '--health-timeout --hostname --io-maxbandwidth --io-maxiops --ip --ip6 --ipc --isolation ' +
    '--kernel-memory --label --label-file --link --link-local-ip --log-driver --log-opt ' +
    '--mac-address --memory --memory-reservation --memory-swap --memory-swappiness --mount ' +
    '--name --net --net-alias --network --network-alias --oom-score-adj --pid --pids-limit ' +
    '--platform --publish --pull --restart --runtime --security-opt --shm-size --stop-signal ' +
    '--stop-timeout --storage-opt --sysctl --tmpfs --ulimit --user --userns --uts --volume ' +
    '--volume-driver --volumes-from --workdir',
);
const valueless = words(
  '--detach --disable-content-trust --help --init --interactive --no-healthcheck ' +
    '--oom-kill-disable --privileged --publish-all --quiet --read-only --rm --sig-proxy --tty ' +
    '--use-api-socket',
);
const shortFlags: Record<string, string> = {
  a: '--attach',
  c: '--cpu-shares',
  d: '--detach',
  e: '--env',
  h: '--hostname',
  i: '--interactive',
  l: '--label',
  m: '--memory',
  p: '--publish',
  P: '--publish-all',
  q: '--quiet',
  t: '--tty',
  u: '--user',
  v: '--volume',
  w: '--workdir',
};
const dockerGlobalsWithValue = words(
  '-H --host -c --context --config -l --log-level --tlscacert --tlscert --tlskey',
);

/** One parsed flag. */
interface Flag {
  name: string;
  value: string;
  text: string;
  loc: SourceLocation;
  vars: string[];
}

/** Maps offsets to 1-based lines and columns. */
class Lines {
  private readonly starts: number[] = [0];

  constructor(
    readonly file: string,
    text: string,
  ) {
    for (let i = 0; i < text.length; i++) if (text[i] === '\n') this.starts.push(i + 1);
  }

  at(offset: number): SourceLocation {
    let low = 0;
    let high = this.starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (this.starts[mid]! <= offset) low = mid;
      else high = mid - 1;
    }
    return { file: this.file, line: low + 1, column: offset - this.starts[low]! + 1 };
  }
}

/**
 * Finds every `docker run` (also `docker container run`, `docker create`, `nvidia-docker run`,
 * `podman run`) in a script or a single command line and models each one.
 */
export function scanDockerRuns(file: string, text: string): DockerScan {
  const lines = new Lines(file, text);
  const out: DockerScan = { workloads: [], findings: [] };
  const pending: Array<{ text: string; offset: number }> = [{ text, offset: 0 }];
  const vars: ScriptVars = { values: new Map(), ambiguous: new Set() };
  while (pending.length > 0) {
    const part = pending.shift()!;
    const scan = scanShell(part.text, part.offset);
    pending.push(...scan.nested);
    for (const command of splitCommands(scan.tokens)) {
      recordAssignments(command, vars);
      const args = dockerRunArgs(command);
      if (!args) continue;
      out.workloads.push(
        modelRun(lines, scan, command[0]!, resolve(args, vars.values), out.findings),
      );
    }
  }
  out.workloads.sort((a, b) => a.loc.line - b.loc.line);
  return out;
}

function splitCommands(tokens: ShellToken[]): ShellToken[][] {
  const commands: ShellToken[][] = [];
  let current: ShellToken[] = [];
  for (const token of tokens) {
    if (token.kind === 'op') {
      if (current.length) commands.push(current);
      current = [];
    } else {
      current.push(token);
    }
  }
  if (current.length) commands.push(current);
  return commands;
}

const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s;

/** Variables known by value, and those assigned in ways that cannot be followed. */
interface ScriptVars {
  values: Map<string, string>;
  ambiguous: Set<string>;
}

/**
 * Remembers plain assignments (`GPU_STRING="--gpus all"`, `IMAGE="${IMAGE:-name:tag}"`), so
 * that flags kept in variables, as Dynamo's run.sh does, are checked too. A variable assigned
 * two different values (branches of a conditional), appended to (`+=`), or given a value that
 * stays unresolved is not expanded at all: guessing a branch would invent or hide flags.
 */
function recordAssignments(command: ShellToken[], vars: ScriptVars): void {
  for (const word of command) {
    const append = /^([A-Za-z_][A-Za-z0-9_]*)(\[[^\]]*\])?\+=/.exec(word.value);
    if (append) forget(vars, append[1]!);
  }
  const words = ['export', 'local', 'readonly', 'declare'].includes(command[0]?.value ?? '')
    ? command.slice(1)
    : command;
  if (words.length === 0 || !words.every((word) => assignment.test(word.value))) return;
  for (const word of words) {
    const [, name, raw] = assignment.exec(word.value)!;
    const value = expand(raw!, vars.values);
    const previous = vars.values.get(name!);
    if (vars.ambiguous.has(name!)) continue;
    if (value.includes('$') || (previous !== undefined && previous !== value)) forget(vars, name!);
    else vars.values.set(name!, value);
  }
}

function forget(vars: ScriptVars, name: string): void {
  vars.values.delete(name);
  vars.ambiguous.add(name);
}

/** Expands `$NAME`, `${NAME}` and `${NAME:-default}` from known assignments, leaving others. */
function expand(text: string, vars: Map<string, string>): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (whole, braced?: string, fallback?: string, bare?: string) =>
      vars.get((braced ?? bare)!) ?? fallback ?? whole,
  );
}

/** Substitutes known variables in docker arguments; an unquoted one may become several words. */
function resolve(args: ShellToken[], vars: Map<string, string>): ShellToken[] {
  return args.flatMap((token) => {
    if (token.vars.length === 0) return [token];
    const value = expand(token.value, vars);
    if (value === token.value) return [token];
    const left = value.includes('$') ? token.vars.filter((name) => !vars.has(name)) : [];
    const alone = /^(\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)$/.test(token.value);
    if (alone && !token.raw.startsWith('"')) {
      return value
        .split(/\s+/)
        .filter(Boolean)
        .map((word) => ({ ...token, value: word, raw: word, vars: [] }));
    }
    return [{ ...token, value, vars: left }];
  });
}

/** The arguments after `run` when the command is a docker run, else undefined. */
function dockerRunArgs(words: ShellToken[]): ShellToken[] | undefined {
  let i = 0;
  const skippable = (w: ShellToken) =>
    /^[A-Za-z_][A-Za-z0-9_]*=/.test(w.value) ||
    ['sudo', 'exec', 'time', 'nohup', 'command', 'env', 'eval'].includes(w.value) ||
    (w.vars.length > 0 && /^(\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)+$/.test(w.value));
  while (
    i < words.length &&
    (skippable(words[i]!) || (words[i - 1]?.value === 'sudo' && words[i]!.value.startsWith('-')))
  ) {
    i++;
  }
  const program = words[i]?.value.split('/').pop();
  if (!program || !['docker', 'nvidia-docker', 'podman'].includes(program)) return undefined;
  i++;
  while (i < words.length && words[i]!.value.startsWith('-')) {
    i += dockerGlobalsWithValue.has(words[i]!.value) ? 2 : 1;
  }
  if (words[i]?.value === 'container') i++;
  if (words[i]?.value !== 'run' && words[i]?.value !== 'create') return undefined;
  return words.slice(i + 1);
}

/** The flags of one docker run, up to the image. */
interface ParsedRun {
  flags: Flag[];
  unknown: Flag[];
  /** Variables left unresolved in flags or the image. */
  vars: Set<string>;
  image?: ShellToken;
}

/** Splits the arguments into flags and the image; the command after the image is ignored. */
function parseFlags(lines: Lines, args: ShellToken[]): ParsedRun {
  const run: ParsedRun = { flags: [], unknown: [], vars: new Set() };
  for (let i = 0; i < args.length && !run.image; i++) {
    const token = args[i]!;
    const at = lines.at(token.offset);
    if (token.value === '--') {
      if (args[i + 1]) run.image = args[i + 1];
      break;
    }
    if (!token.value.startsWith('-') || token.value === '-') {
      if (
        !token.raw.startsWith('"') &&
        token.vars.length > 0 &&
        /^(\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)+$/.test(token.value) &&
        !token.vars.some((name) => /IMAGE|IMG/i.test(name))
      ) {
        // an unquoted variable alone in flag position usually carries flags (Dynamo's
        // ${GPU_STRING}); a quoted one, or one named like an image, is the image
        token.vars.forEach((name) => run.vars.add(name));
        continue;
      }
      run.image = token;
      break;
    }
    for (const { name, inline } of flagNames(token.value)) {
      if (valued.has(name)) {
        let value = inline;
        let text = token.raw;
        const flagVars = [...token.vars];
        if (value === undefined) {
          const next = args[++i];
          value = next?.value ?? '';
          text = `${token.raw} ${next?.raw ?? ''}`.trim();
          flagVars.push(...(next?.vars ?? []));
        }
        flagVars.forEach((v) => run.vars.add(v));
        const canonical = name === '--net' ? '--network' : name;
        run.flags.push({ name: canonical, value, text, loc: at, vars: flagVars });
      } else if (valueless.has(name)) {
        run.flags.push({ name, value: inline ?? 'true', text: token.raw, loc: at, vars: [] });
      } else {
        run.unknown.push({ name, value: inline ?? '', text: token.raw, loc: at, vars: [] });
      }
    }
  }
  run.image?.vars.forEach((v) => run.vars.add(v));
  return run;
}

/** `--name=x` → one flag; `-itv/a:/b` → `-i`, `-t`, `-v` with value `/a:/b`. */
function flagNames(word: string): Array<{ name: string; inline?: string }> {
  if (word.startsWith('--')) {
    const eq = word.indexOf('=');
    return [eq < 0 ? { name: word } : { name: word.slice(0, eq), inline: word.slice(eq + 1) }];
  }
  const names: Array<{ name: string; inline?: string }> = [];
  const chars = word.slice(1);
  for (let k = 0; k < chars.length; k++) {
    const name = shortFlags[chars[k]!] ?? `-${chars[k]}`;
    if (valued.has(name)) {
      const rest = chars.slice(k + 1).replace(/^=/, '');
      names.push(rest ? { name, inline: rest } : { name });
      break;
    }
    names.push({ name });
  }
  return names;
}

function modelRun(
  lines: Lines,
  scan: ShellScan,
  first: ShellToken,
  args: ShellToken[],
  findings: CheckResult[],
): WorkloadModel {
  const loc = lines.at(first.offset);
  const { flags, unknown, vars, image } = parseFlags(lines, args);

  const nameFlag = flags.filter((f) => f.name === '--name').pop();
  const containerName = nameFlag?.value || 'container';
  const workload = emptyWorkload(
    'docker',
    { kind: 'docker run', name: nameFlag?.value || `line ${loc.line}` },
    loc,
  );
  const container = emptyContainer(containerName, 'container', loc);
  container.securityLoc = loc;
  workload.containers.push(container);
  if (image) {
    container.image = {
      value: image.value,
      loc: lines.at(image.offset),
      text: `image ${image.raw}`,
    };
  }
  container.seccomp = { value: 'RuntimeDefault', loc, text: "Docker's default seccomp profile" };
  for (const flag of flags) applyFlag(workload, container, flag);

  // findings about the input itself
  const subject = { ...workload.subject, container: containerName };
  for (const flag of unknown) {
    findings.push(
      finding('ST-INPUT-03', 'WARN', {
        evidence: [flag.text],
        why: `${flag.name} is not a docker run flag this checker knows; it was read as taking no value`,
        subject,
        location: flag.loc,
      }),
    );
  }
  if (vars.size > 0) {
    findings.push(
      finding('ST-INPUT-04', 'INFO', {
        evidence: [...vars].map((name) => `unresolved: ${name}`),
        why: 'variables in flag positions may add or change flags that were not checked',
        subject,
        location: loc,
      }),
    );
  }
  if (!image) {
    findings.push(
      finding('ST-INPUT-01', 'WARN', {
        evidence: ['no image after the flags'],
        subject,
        location: loc,
      }),
    );
  }
  readSuppressions(lines, scan, first.offset, workload);
  return workload;
}

function located<T>(flag: Flag, value: T): Located<T> {
  return { value, loc: flag.loc, text: flag.text };
}

function applyFlag(w: WorkloadModel, c: ContainerModel, flag: Flag): void {
  const { name, value } = flag;
  const hostMode = value === 'host';
  switch (name) {
    case '--privileged':
      if (value !== 'false') c.privileged = located(flag, true);
      break;
    case '--cap-add':
      c.capAdd.push(located(flag, value));
      break;
    case '--cap-drop':
      c.capDrop.push(located(flag, value));
      break;
    case '--user': {
      // unresolved parts ($(id -u)) are kept as written: the checks treat them as unknown
      const [user, group] = value.split(':');
      if (user) c.runAsUser = located(flag, /^\d+$/.test(user) ? Number(user) : user);
      if (group) c.runAsGroup = located(flag, /^\d+$/.test(group) ? Number(group) : group);
      break;
    }
    case '--group-add':
      c.groupAdd.push(located(flag, value));
      break;
    case '--pid':
      if (hostMode) w.hostPID = located(flag, true);
      break;
    case '--ipc':
      if (hostMode) w.hostIPC = located(flag, true);
      break;
    case '--network':
      if (hostMode) w.hostNetwork = located(flag, true);
      break;
    case '--uts':
      if (hostMode) w.hostUTS = located(flag, true);
      break;
    case '--userns':
      if (hostMode) w.hostUsers = located(flag, true);
      break;
    case '--security-opt':
      applySecurityOpt(c, flag);
      break;
    case '--volume':
      applyVolume(c, flag);
      break;
    case '--mount':
      applyMount(c, flag);
      break;
    case '--tmpfs':
      c.mounts.push({
        target: value.split(':')[0]!,
        readOnly: false,
        scratch: true,
        loc: flag.loc,
        text: flag.text,
      });
      break;
    case '--device':
      c.devices.push(located(flag, value.split(':')[0]!));
      break;
    case '--device-cgroup-rule':
      c.deviceCgroupRules.push(located(flag, value));
      break;
    case '--gpus': {
      const spec = value.replace(/^"|"$/g, '');
      const device = /device=([^,]+(?:,[^=,]+)*)/.exec(spec);
      const count = /(?:^|,)count=(\d+|all)/.exec(spec);
      const gpus =
        spec === 'all' || count?.[1] === 'all'
          ? 'all'
          : device
            ? device[1]!.split(',').length
            : Number(count?.[1] ?? spec);
      if (gpus === 'all' || Number.isFinite(gpus)) c.gpus = located(flag, gpus);
      break;
    }
    case '--memory': {
      const bytes = parseDockerSize(value);
      if (bytes !== undefined) c.memoryLimit = located(flag, bytes);
      break;
    }
    case '--shm-size': {
      const bytes = parseDockerSize(value);
      if (bytes !== undefined) w.shmSize = located(flag, bytes);
      break;
    }
    case '--ulimit': {
      const match = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(value);
      if (match) {
        const soft = Number(match[2]);
        c.ulimits.set(
          match[1]!,
          located(flag, { soft, hard: match[3] === undefined ? soft : Number(match[3]) }),
        );
      }
      break;
    }
    case '--env': {
      const eq = value.indexOf('=');
      c.env.push(
        eq < 0
          ? { name: value, from: 'host environment', loc: flag.loc }
          : { name: value.slice(0, eq), value: value.slice(eq + 1), loc: flag.loc },
      );
      break;
    }
    case '--read-only':
      if (value !== 'false') c.readOnlyRootFilesystem = located(flag, true);
      break;
    case '--sysctl':
      w.sysctls.push(located(flag, value));
      break;
  }
}

function applySecurityOpt(c: ContainerModel, flag: Flag): void {
  const match = /^([a-z-]+)(?:[=:](.*))?$/.exec(flag.value);
  if (!match) return;
  const [, key, rest = ''] = match;
  if (key === 'no-new-privileges') {
    c.allowPrivilegeEscalation = located(flag, rest === 'false');
  } else if (key === 'seccomp') {
    c.seccomp = located(flag, rest === 'unconfined' ? 'Unconfined' : 'Localhost');
  } else if (key === 'apparmor') {
    c.appArmor = located(flag, rest === 'unconfined' ? 'Unconfined' : 'Localhost');
  } else if (key === 'label') {
    const previous = c.seLinux?.value ?? {};
    const [field, labelValue] = rest.split(':');
    const label =
      field === 'disable'
        ? { ...previous, disabled: true }
        : { ...previous, ...(field && labelValue !== undefined ? { [field]: labelValue } : {}) };
    c.seLinux = located(flag, label);
  } else if (key === 'systempaths' && rest === 'unconfined') {
    c.procMount = located(flag, 'Unmasked');
  }
}

function applyVolume(c: ContainerModel, flag: Flag): void {
  const parts = flag.value.split(':');
  if (parts.length < 2) {
    c.mounts.push({ target: parts[0]!, readOnly: false, loc: flag.loc, text: flag.text });
    return;
  }
  const [source, target, options = ''] = parts as [string, string, string?];
  const opts = options.split(',');
  const propagation = opts.find((o) => /^r?(shared|slave|private)$/.test(o));
  const bind = source.startsWith('/') || source.startsWith('.') || source.startsWith('~');
  c.mounts.push({
    ...(bind ? { hostPath: source } : { volume: source }),
    target,
    readOnly: opts.includes('ro') || opts.includes('readonly'),
    ...(propagation ? { propagation } : {}),
    loc: flag.loc,
    text: flag.text,
  });
}

function applyMount(c: ContainerModel, flag: Flag): void {
  const fields = new Map<string, string>();
  for (const part of flag.value.split(',')) {
    const eq = part.indexOf('=');
    fields.set(eq < 0 ? part : part.slice(0, eq), eq < 0 ? 'true' : part.slice(eq + 1));
  }
  const type = fields.get('type') ?? 'volume';
  const source = fields.get('source') ?? fields.get('src');
  const target = fields.get('target') ?? fields.get('destination') ?? fields.get('dst') ?? '';
  const ro = fields.get('readonly') ?? fields.get('ro');
  const propagation = fields.get('bind-propagation');
  c.mounts.push({
    ...(type === 'bind' && source ? { hostPath: source } : source ? { volume: source } : {}),
    target,
    readOnly: ro === 'true' || ro === '1',
    ...(type === 'tmpfs' ? { scratch: true } : {}),
    ...(propagation ? { propagation } : {}),
    loc: flag.loc,
    text: flag.text,
  });
}

const suppressionComment = /^\s*(memory\.dynamo\.ai\/ignore-check\.[A-Za-z0-9_-]+)\s*:?\s*(.*)$/;

/** Comment lines right above the command, read as suppression annotations. */
function readSuppressions(lines: Lines, scan: ShellScan, offset: number, w: WorkloadModel): void {
  let line = lines.at(offset).line - 1;
  const byLine = new Map(
    scan.comments.filter((c) => c.ownLine).map((c) => [lines.at(c.offset).line, c] as const),
  );
  for (let comment = byLine.get(line); comment; comment = byLine.get(--line)) {
    const match = suppressionComment.exec(comment.text);
    if (match)
      w.annotations.set(match[1]!, { value: match[2]!.trim(), loc: lines.at(comment.offset) });
  }
}
