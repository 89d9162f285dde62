import { io } from 'socket.io-client';

declare const location: { assign(url: string): void }; // a browser's
const socket = io('https://app.example.com');

// #region readme
socket.on('keycard:close', ({ code }) => { if (code === 4401) location.assign('/login'); });
// #endregion readme
