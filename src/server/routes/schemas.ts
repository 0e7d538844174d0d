/** Request schemas shared by several routes. */

export interface IdParams {
  id: string;
}

export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', format: 'uuid' } },
} as const;
