/** Runs `cochlea models …` through registerModelsCommand in a child process (used by manager.test.ts). */
import { Command } from 'commander';
import { registerModelsCommand } from '../../src/cli/models.ts';

const program = new Command().name('cochlea');
registerModelsCommand(program);
await program.parseAsync(process.argv);
