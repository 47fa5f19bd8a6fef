// Seeded randomness, so every benchmark run sees the same traffic (one PRNG, shared with the simulator).

export {mulberry32} from '../src/core/random.js'
