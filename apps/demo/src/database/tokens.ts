/** DI token of the query layer (`AppDatabase`), provided by AppModule from the opened database. */
export const DATABASE = Symbol('DATABASE');
