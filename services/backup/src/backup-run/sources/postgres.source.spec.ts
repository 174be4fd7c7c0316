import { connectionFor } from './postgres.source.js';

describe('connectionFor', () => {
  it('keeps the connection when no database is named', () => {
    expect(connectionFor({ connection: 'postgres://u@h:5432/orders' })).toBe('postgres://u@h:5432/orders');
  });

  it('replaces the database of a URL, encoding it', () => {
    expect(connectionFor({ connection: 'postgres://u:p@h:5432/postgres?sslmode=require', database: 'orders eu' })).toBe(
      'postgres://u:p@h:5432/orders%20eu?sslmode=require',
    );
  });

  it('appends dbname to a key=value connection string, quoted', () => {
    expect(connectionFor({ connection: 'host=h user=u', database: "o'rders" })).toBe("host=h user=u dbname='o\\'rders'");
  });
});
