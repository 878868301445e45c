#!/usr/bin/env node
/** typevisor's command line: a table of subcommands, each implemented in its own module. */
import { Command } from 'commander';
import { selftest } from './selftest.js';
import { imagesCommand } from './images.js';
import { runCommand } from './run.js';
import { demoCommand } from './demo.js';

const program = new Command()
  .name('typevisor')
  .description('A Xen-style hypervisor in TypeScript, with its own IA-32 CPU');

program
  .command('selftest')
  .description('boot the built-in hello guest and check what it prints')
  .action(() => {
    process.exitCode = selftest();
  });

program.addCommand(runCommand());
program.addCommand(demoCommand());
program.addCommand(imagesCommand());

await program.parseAsync();
