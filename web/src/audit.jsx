// The audit log: filter by actor, action, target and date range; an entry's page shows its
// before/after as a field-by-field diff.
import {
  AutocompleteInput, Datagrid, DateField, DateInput, FunctionField, List, ReferenceField, ReferenceInput,
  SelectInput, Show, SimpleShowLayout, TextField, TextInput, useRecordContext,
} from 'react-admin';
import { Table, TableBody, TableCell, TableHead, TableRow, Typography } from '@mui/material';

const filters = [
  <ReferenceInput key="actor" source="actorUserId" reference="User" label="Actor" alwaysOn>
    <AutocompleteInput optionText="email" label="Actor" filterToQuery={(q) => ({ q })} />
  </ReferenceInput>,
  <TextInput key="action" source="action" label="Action" alwaysOn placeholder="user.update" />,
  <SelectInput key="targetType" source="targetType" label="Target type" choices={[{ id: 'user', name: 'user' }, { id: 'role', name: 'role' }]} />,
  <TextInput key="targetId" source="targetId" label="Target id" />,
  <DateInput key="from" source="at_gte" label="From" />,
  <DateInput key="to" source="at_lte" label="To" />,
];

const Target = () => {
  const r = useRecordContext();
  if (!r?.targetType) return null;
  return `${r.targetType} #${r.targetId}`;
};

export const AuditList = () => (
  <List filters={filters} sort={{ field: 'at', order: 'DESC' }} perPage={25} exporter={false}>
    <Datagrid rowClick="show" bulkActionButtons={false}>
      <DateField source="at" showTime />
      <TextField source="action" />
      <ReferenceField source="actorUserId" reference="User" label="Actor" link={false} emptyText="—" />
      <FunctionField label="Target" render={() => <Target />} />
      <TextField source="clientIp" label="Client IP" />
      <TextField source="requestId" label="Request id" />
    </Datagrid>
  </List>
);

const show = (v) => (v === undefined ? '' : JSON.stringify(v));

/** `changes` is `{ before: {...}, after: {...} }` (either may be missing): one row per field. */
export const ChangesDiff = () => {
  const record = useRecordContext();
  let changes;
  try {
    changes = JSON.parse(record?.changes ?? '{}');
  } catch {
    return <pre>{record?.changes}</pre>;
  }
  const before = changes.before ?? {};
  const after = changes.after ?? {};
  const other = Object.fromEntries(Object.entries(changes).filter(([k]) => k !== 'before' && k !== 'after'));
  const fields = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  if (!fields.length && !Object.keys(other).length) return <Typography variant="body2">No field changes recorded.</Typography>;
  return (
    <>
      <Table size="small" data-testid="audit-diff">
        <TableHead>
          <TableRow>
            <TableCell>Field</TableCell>
            <TableCell>Before</TableCell>
            <TableCell>After</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {fields.map((f) => {
            const changed = show(before[f]) !== show(after[f]);
            return (
              <TableRow key={f}>
                <TableCell component="th" sx={{ fontWeight: 600 }}>{f}</TableCell>
                <TableCell sx={{ fontFamily: 'monospace', bgcolor: changed && f in before ? '#fdecea' : undefined }}>{show(before[f])}</TableCell>
                <TableCell sx={{ fontFamily: 'monospace', bgcolor: changed && f in after ? '#e6f4ea' : undefined }}>{show(after[f])}</TableCell>
              </TableRow>
            );
          })}
        </TableBody>
      </Table>
      {Object.keys(other).length > 0 && <pre>{JSON.stringify(other, null, 2)}</pre>}
    </>
  );
};

export const AuditShow = () => (
  <Show>
    <SimpleShowLayout>
      <DateField source="at" showTime />
      <TextField source="action" />
      <ReferenceField source="actorUserId" reference="User" label="Actor" emptyText="—" />
      <FunctionField label="Target" render={() => <Target />} />
      <TextField source="clientIp" label="Client IP" emptyText="—" />
      <TextField source="requestId" label="Request id" emptyText="—" />
      <FunctionField label="Changes" render={() => <ChangesDiff />} />
    </SimpleShowLayout>
  </Show>
);
