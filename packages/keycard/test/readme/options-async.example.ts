import { Injectable, Module } from '@nestjs/common';
import { SessionModule } from '../../src/nest/index.js';

// Stand-ins with @nestjs/config's shape (not a dependency of these tests).
@Injectable()
class ConfigService {
  get<T>(key: string): T | undefined { return process.env[key] as T | undefined; }
  getOrThrow<T>(key: string): T { const value = this.get<T>(key); if (value === undefined) throw new Error(key); return value; }
}
@Module({ providers: [ConfigService], exports: [ConfigService] })
class ConfigModule {}

export const sessions =
// #region readme
SessionModule.forRootAsync({
  imports: [ConfigModule],
  inject: [ConfigService],
  useFactory: (config: ConfigService) => ({
    secrets: config.getOrThrow<string>('SESSION_SECRETS').split(','),
    csrf: { allowedOrigins: config.get<string[]>('CSRF_ALLOWED_ORIGINS') ?? [] },
  }),
});
// #endregion readme
