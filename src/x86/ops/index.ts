/** Loading this module fills the opcode table with every instruction group. */
import './alu.js';
import './bcd.js';
import './bitops.js';
import './control.js';
import './data.js';
import './io.js';
import './muldiv.js';
import './shift.js';
import './stack.js';
import './string.js';
import './system.js';
import './x87.js';
