/** The commands of `dynamo-memory`, in the order `--help` lists them. */
import type { Command } from 'commander';

import type { CommandContext } from '../context.js';
import { defineBench } from './bench.js';
import { defineCopy } from './copy.js';
import { defineInfo } from './info.js';
import { defineLoad } from './load.js';
import { defineLint } from './lint.js';
import { definePreflight } from './preflight.js';

/** Wraps an action so it receives a context and its errors become exit codes. */
export type Wrap = (
  name: string,
  action: (
    context: CommandContext,
    args: string[],
    options: Record<string, unknown>,
  ) => Promise<number>,
) => (...commanderArgs: unknown[]) => Promise<void>;

/** Adds one command to the program. */
export type DefineCommand = (program: Command, wrap: Wrap) => void;

export const commands: DefineCommand[] = [
  defineLoad,
  defineCopy,
  defineInfo,
  defineBench,
  definePreflight,
  defineLint,
];
