import { SessionModule } from '../../src/nest/index.js';

const secrets = [process.env.SESSION_SECRET!];
const allowedOrigins = ['https://admin.example.com'];

export const modules = [
// #region readme
SessionModule.forRoot({ secrets }),                          // CSRF on, defaults
SessionModule.forRoot({ secrets, csrf: { allowedOrigins } }), // CSRF options
SessionModule.forRoot({ secrets, csrf: false }),              // off: an explicit relaxation
// #endregion readme
];
