import { Inject, Injectable, Scope } from '@nestjs/common';
import { Args, CONTEXT, Field, ObjectType, Query, Resolver } from '@nestjs/graphql';
import DataLoader from 'dataloader';
import { sessionOf, type RequestLike } from '../../src/nest/index.js';

@ObjectType()
export class Order {
  @Field() id!: string;
  @Field() owner!: string;
}

@Injectable()
export class OrderRepository {
  /** One query for a whole batch of ids, limited to the caller's orders. */
  async findMany(owner: string, ids: readonly string[]): Promise<Order[]> {
    return ids.map((id) => ({ id, owner }));
  }
}

@Injectable({ scope: Scope.REQUEST })
export class OrdersLoader {
  readonly byId: DataLoader<string, Order>;
  constructor(@Inject(CONTEXT) context: { req: RequestLike }, orders: OrderRepository) {
    // The session keycard loaded for this request: no store call. The guard let only signed-in callers in.
    const owner = sessionOf(context.req).principal?.id ?? '';
    this.byId = new DataLoader((ids: readonly string[]) => orders.findMany(owner, ids));
  }
}

@Resolver(() => Order)
export class OrdersResolver {
  constructor(private readonly loader: OrdersLoader) {}

  @Query(() => [Order])
  orders(@Args('ids', { type: () => [String] }) ids: string[]): Promise<Order[]> {
    return Promise.all(ids.map((id) => this.loader.byId.load(id)));
  }
}
